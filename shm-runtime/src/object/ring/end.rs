//! One side of a ring in a segment, shared by [`MemoryInterface`] (typed
//! elements) and [`ByteRing`] (byte messages): the segment, the side's
//! claim on its role word, its cursor, sticky corruption, waking the other
//! side, and waiting for it. The ring protocol itself is in `ring.rs`.
//!
//! [`MemoryInterface`]: crate::MemoryInterface
//! [`ByteRing`]: crate::ByteRing

use crate::format::header::{Layout, ObjectKind};
use crate::format::schema::Schema;
use crate::protocol::ring::{self, ConsumerCursor, Corrupt, Geometry, ProducerCursor, Ring, Shape};
use crate::protocol::role::{self, CLOSED, FREE};
use crate::protocol::wake::{self, AWAKE, Barrier};
use crate::segment::error::{CreateError, OpenError, RingError, SendError};
use crate::segment::handle::Handle;
use crate::segment::liveness;
use crate::segment::name::SegmentName;
use crate::segment::options::OpenOptions;
use crate::segment::{self, Payload, Segment, Spec};
use core::ptr::NonNull;
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
/// Refused non-blocking calls between two clock reads of
/// [`End::why_refused`].
const CLOCK_EVERY: u32 = 64;
/// Shortest time between two system calls of [`End::why_refused`] asking
/// whether the other side's process is alive.
const LOOK_EVERY: Duration = Duration::from_millis(1);

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

/// Where the words the hot paths (`write`, `read`, waking the peer) touch
/// lie in a segment's mapping, resolved once at create or open (with the
/// ring's geometry checked there) rather than on every call.
///
/// Raw addresses, so that the end that keeps this beside its segment
/// borrows nothing from itself: [`Hot::ring`], [`Hot::peer_wait`] and
/// [`Hot::peer_mode`] turn them into references that live only as long as
/// a borrow of `self`, which is no longer than the mapping (see
/// [`Hot::new`]).
///
/// Neither `Clone` nor `Copy`, and `End` (which implements `Drop`) never
/// moves it out: a `Hot` lives and dies inside the end that holds its
/// segment.
struct Hot {
    /// All the payload's words; `geometry` was made for their number.
    words: NonNull<[AtomicU64]>,
    /// The ring's shape, checked against the number of `words`.
    geometry: Geometry,
    /// The other side's wait word (the first four bytes of its word in
    /// `words`, which is only ever accessed as this 32-bit futex word).
    peer_wait: NonNull<AtomicU32>,
    /// The other side's mode word, in `words`.
    peer_mode: NonNull<AtomicU64>,
    /// The other side's role word, in `words` (on the cache line of its
    /// wait and mode words, which a publish loads anyway).
    peer_role: NonNull<AtomicU64>,
}

// SAFETY: a `Hot` is addresses of atomics in a shared mapping, and gives
// out only shared references to them (`&[AtomicU64]`, `&AtomicU32`,
// `&AtomicU64`), which are `Send` and `Sync`: moving one to another thread
// is as sound as moving those references, and the mapping does not belong
// to a thread.
unsafe impl Send for Hot {}
// SAFETY: as for `Send`: `&Hot` gives out nothing but those shared
// references to atomics.
unsafe impl Sync for Hot {}

impl Hot {
    /// The hot parts of `R`'s side of the ring in `payload`.
    ///
    /// # Safety
    ///
    /// - `geometry` was made for exactly `payload.words().len()` words
    ///   (what [`Hot::ring`] relies on to check nothing).
    /// - The result is not used once the mapping `payload` is part of is
    ///   unmapped (its segment dropped). `End` keeps the segment for as
    ///   long as it keeps the result: see [`End::hot`].
    unsafe fn new<R: Role>(payload: Payload<'_>, geometry: Geometry) -> Self {
        let words = payload.words();
        Self {
            words: NonNull::from(words),
            geometry,
            peer_wait: NonNull::from(payload.futex_word(R::PEER_WAIT_WORD)),
            peer_mode: NonNull::from(&words[R::PEER_MODE_WORD]),
            peer_role: NonNull::from(&words[R::PEER_ROLE_WORD]),
        }
    }

    /// The ring, for a borrow of `self`: rebuilt from the addresses on
    /// every call, checking nothing (a few register moves once inlined).
    #[inline]
    fn ring(&self) -> Ring<'_> {
        // SAFETY: `words` came from a live `&[AtomicU64]` of the mapping,
        // which outlives every use of `self` (`new`'s contract), so it
        // outlives this borrow; the words are only ever accessed through
        // shared references to atomics.
        let words = unsafe { self.words.as_ref() };
        // SAFETY: `geometry` was made for exactly `words.len()` words
        // (`new`'s contract; `End::create` and `End::open` make it from
        // this very length just before).
        unsafe { Ring::view_unchecked(words, self.geometry) }
    }

    /// The other side's wait word, for a borrow of `self`.
    #[inline]
    fn peer_wait(&self) -> &AtomicU32 {
        // SAFETY: as for `words` in `ring`; the address came from
        // `Payload::futex_word`, which made this 32-bit view.
        unsafe { self.peer_wait.as_ref() }
    }

    /// The other side's mode word, for a borrow of `self`.
    #[inline]
    fn peer_mode(&self) -> &AtomicU64 {
        // SAFETY: as for `words` in `ring`.
        unsafe { self.peer_mode.as_ref() }
    }

    /// The other side's role word, for a borrow of `self`.
    #[inline]
    fn peer_role(&self) -> &AtomicU64 {
        // SAFETY: as for `words` in `ring`.
        unsafe { self.peer_role.as_ref() }
    }
}

/// How the other side is gone, as [`End::why_refused`] finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gone {
    /// It let go (dropped its end).
    LetGo,
    /// Its process is dead.
    Died {
        /// Its process id.
        pid: u64,
    },
}

/// The ring as [`End::ring_and_cursor`] lends it: a borrow of the end's
/// resolved addresses that takes the ring view where each operation is
/// made, as a reference to a stored ring would, so that no view is held
/// live (in registers, or spilled) across a caller's loop. (Lending a
/// `Ring` by value instead cost the byte ring's `put_fragments` some 20
/// more instructions a message, in spills.)
#[derive(Clone, Copy)]
pub(crate) struct RingRef<'a>(&'a Hot);

impl<'a> RingRef<'a> {
    /// See [`Ring::put`].
    #[inline]
    pub(crate) fn put(self, cursor: &ProducerCursor, offset: u64, item: &[u8]) {
        self.0.ring().put(cursor, offset, item);
    }

    /// See [`Ring::free_slot`].
    #[inline]
    pub(crate) fn free_slot(self, cursor: &ProducerCursor, offset: u64) -> &'a [AtomicU64] {
        self.0.ring().free_slot(cursor, offset)
    }

    /// See [`Ring::next_free_slot`].
    #[inline]
    pub(crate) fn next_free_slot(self, cursor: &ProducerCursor) -> &'a [AtomicU64] {
        self.0.ring().next_free_slot(cursor)
    }

    /// See [`Ring::next_ready_slot`].
    #[inline]
    pub(crate) fn next_ready_slot(self, cursor: &ConsumerCursor) -> &'a [AtomicU64] {
        self.0.ring().next_ready_slot(cursor)
    }

    /// See [`Ring::publish`].
    #[inline]
    pub(crate) fn publish(self, cursor: &mut ProducerCursor, count: u64) {
        self.0.ring().publish(cursor, count);
    }

    /// See [`Ring::free`].
    #[inline]
    pub(crate) fn free(self, cursor: &mut ProducerCursor, wanted: u64) -> Result<u64, Corrupt> {
        self.0.ring().free(cursor, wanted)
    }

    /// See [`Ring::get`].
    #[inline]
    pub(crate) fn get(self, cursor: &ConsumerCursor, offset: u64, out: &mut [u8]) {
        self.0.ring().get(cursor, offset, out);
    }

    /// See [`Ring::ready_slot`].
    #[inline]
    pub(crate) fn ready_slot(self, cursor: &ConsumerCursor, offset: u64) -> &'a [AtomicU64] {
        self.0.ring().ready_slot(cursor, offset)
    }

    /// See [`Ring::release`].
    #[inline]
    pub(crate) fn release(self, cursor: &mut ConsumerCursor, count: u64) {
        self.0.ring().release(cursor, count);
    }

    /// See [`Ring::has_free`].
    #[inline]
    pub(crate) fn has_free(self, cursor: &mut ProducerCursor) -> Result<bool, Corrupt> {
        self.0.ring().has_free(cursor)
    }

    /// See [`Ring::has_ready`].
    #[inline]
    pub(crate) fn has_ready(self, cursor: &mut ConsumerCursor) -> Result<bool, Corrupt> {
        self.0.ring().has_ready(cursor)
    }

    /// See [`Ring::available`].
    #[inline]
    pub(crate) fn available(self, cursor: &mut ConsumerCursor, wanted: u64) -> Result<u64, Corrupt> {
        self.0.ring().available(cursor, wanted)
    }

    /// See [`Ring::skip_all`].
    #[inline]
    pub(crate) fn skip_all(self, cursor: &mut ConsumerCursor) -> Result<u64, Corrupt> {
        self.0.ring().skip_all(cursor)
    }
}

/// One side of a ring: what every ring type holds. `pub` (in a module no
/// other crate can name) only because the sealed [`sealed::HasEnd`]
/// returns it.
pub struct End<R: Role> {
    /// `None` only after `into_segment` took it.
    segment: Option<Segment>,
    /// Addresses in `segment`'s mapping, which stays mapped for as long as
    /// `self` exists: `segment` is `Some` from `create` or `open` on, and
    /// the one place that takes it (`into_segment`) consumes `self` and
    /// holds the segment until `self` is gone. Moving the end moves
    /// neither the mapping nor the words. (Field order does not matter:
    /// nothing here is dropped with a use of the addresses.)
    hot: Hot,
    pub(crate) shape: Shape,
    pub(crate) cursor: R::Cursor,
    /// First corruption found; sticky.
    pub(crate) corrupt: Option<Corrupt>,
    /// Non-blocking calls refused so far (see [`End::why_refused`]).
    refusals: u32,
    /// When [`End::why_refused`] last asked whether the other side's
    /// process is alive; `None` before the first time.
    last_look: Option<Instant>,
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
        layout: Layout<'_>,
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
        // SAFETY: `geometry` was made for the payload's words just above;
        // the end keeps `segment` with `hot` (see `End::hot`).
        let hot = unsafe { Hot::new::<R>(segment.payload(), geometry) };
        let cursor = R::cursor(&hot.ring()).expect("a fresh ring is consistent");
        Ok(Self { segment: Some(segment), hot, shape, cursor, corrupt: None, refusals: 0, last_look: None, barrier })
    }

    /// Opens the ring `handle` names as its `R` side if `options` accept
    /// its owner and mode, waiting up to `options.wait_time()` for its
    /// creator; `check` accepts or refuses the stored shape for the
    /// segment's schema (before the words are split by it). The side is a
    /// claim: a live holder is [`OpenError::RoleTaken`]; a dead holder's
    /// claim is taken over.
    pub(crate) fn open(
        handle: &Handle,
        kind: ObjectKind,
        layout: Layout<'_>,
        options: &OpenOptions,
        check: impl FnOnce(Shape, &Schema) -> Result<(), &'static str>,
    ) -> Result<Self, OpenError> {
        let segment = Segment::open(handle, kind, layout, None, options)?;
        let corrupt = |what| OpenError::Corrupt { name: segment.name().clone(), what };
        let words = segment.payload().words();
        let shape = Ring::stored_shape(words).map_err(corrupt)?;
        // A strict open (this one) refuses a segment without a good schema.
        let schema = segment.schema().map_err(|_| corrupt("the segment's schema is bad"))?;
        check(shape, schema).map_err(corrupt)?;
        let geometry = Geometry::new(words.len(), shape.capacity, shape.slot_words)
            .ok_or("capacity and slot size words disagree with the payload size")
            .map_err(corrupt)?;
        // SAFETY: `geometry` was made for the payload's words just above;
        // the end keeps `segment` with `hot` (see `End::hot`), and on an
        // error below `hot` is dropped unused.
        let hot = unsafe { Hot::new::<R>(segment.payload(), geometry) };
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
        let Ok(cursor) = R::cursor(&hot.ring()) else {
            role::let_go(&words[R::ROLE_WORD], me);
            return Err(corrupt("read and write positions are further apart than the capacity"));
        };
        Ok(Self { segment: Some(segment), hot, shape, cursor, corrupt: None, refusals: 0, last_look: None, barrier })
    }

    #[inline]
    pub(crate) fn segment(&self) -> &Segment {
        self.segment.as_ref().expect("only cleanup takes the segment, and it consumes the end")
    }

    /// The ring, a view for a borrow of the end (its shape was checked at
    /// create or open; nothing is checked again).
    #[inline]
    pub(crate) fn ring(&self) -> Ring<'_> {
        self.hot.ring()
    }

    /// The ring and this side's cursor, borrowed apart.
    #[inline]
    pub(crate) fn ring_and_cursor(&mut self) -> (RingRef<'_>, &mut R::Cursor) {
        (RingRef(&self.hot), &mut self.cursor)
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
        self.leave(true);
        let segment = self.segment.take();
        // `self` (and `hot` with it) goes while the mapping is still held
        // here (see `End::hot`); its `drop` finds no segment and does
        // nothing more.
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

    /// Records `c` (sticky) and returns it as an error. Cold and out of
    /// line: the hot paths that may fail inline only the call.
    #[cold]
    #[inline(never)]
    pub(crate) fn fail(&mut self, c: Corrupt) -> RingError {
        self.corrupt.get_or_insert(c);
        self.corrupt_error(c)
    }

    /// The sticky corruption as an error, if any.
    #[inline]
    pub(crate) fn check(&self) -> Result<(), RingError> {
        match self.corrupt {
            None => Ok(()),
            Some(c) => Err(self.corrupt_error_cold(c)),
        }
    }

    /// [`corrupt_error`](Self::corrupt_error) out of line, so that the
    /// hot paths that check the sticky corruption inline only a load and a
    /// branch, not the error's construction (a clone of the name).
    #[cold]
    #[inline(never)]
    fn corrupt_error_cold(&self, c: Corrupt) -> RingError {
        self.corrupt_error(c)
    }

    /// Where the other side is: see [`PeerState`](crate::PeerState).
    pub(crate) fn peer_state(&self) -> crate::object::ring::PeerState {
        use crate::object::ring::PeerState;
        // Acquire (`load_peer`) pairs with the Release of the other side's
        // let-go: seeing it let go, its last items are visible.
        match role::load_peer(self.word(R::PEER_ROLE_WORD)) {
            role::FREE => PeerState::NotAttached,
            role::CLOSED => PeerState::LetGo,
            holder => {
                let pid = liveness::pid_of(holder);
                match liveness::alive(holder) {
                    Some(false) => PeerState::Died { pid },
                    _ => PeerState::Attached { pid },
                }
            }
        }
    }

    /// Whether the other side let go of the ring (dropped its end) and
    /// nobody took its place: one load, of the cache line `notify_peer`
    /// loads anyway, and no system call. Relaxed: it decides only whether
    /// to write; a producer that writes anyway publishes as ever.
    #[inline]
    pub(crate) fn peer_left(&self) -> bool {
        self.hot.peer_role().load(Ordering::Relaxed) == CLOSED
    }

    /// The pid of the process holding the other side if the kernel says it
    /// is dead (a system call: for paths that found no room or no item).
    pub(crate) fn peer_died(&self) -> Option<u64> {
        match self.hot.peer_role().load(Ordering::Relaxed) {
            FREE | CLOSED => None,
            holder => (liveness::alive(holder) == Some(false)).then(|| liveness::pid_of(holder)),
        }
    }

    /// Why a non-blocking call found no room: the other side let go, or
    /// died, or neither (`None`: only full). Whether it died costs a
    /// system call, made on the first refused call and after that at most
    /// once per [`LOOK_EVERY`], timed on every [`CLOCK_EVERY`]th refused
    /// call (a clock read, no system call): a caller spinning on a full
    /// ring pays the system call once a millisecond, not every 1024 tries
    /// (a stall of the producer that let a busy consumer drain the ring),
    /// and one retrying slowly still learns of a death within 64 tries.
    #[cold]
    pub(crate) fn why_refused(&mut self) -> Option<Gone> {
        if self.peer_left() {
            return Some(Gone::LetGo);
        }
        let tick = self.refusals.is_multiple_of(CLOCK_EVERY);
        self.refusals = self.refusals.wrapping_add(1);
        if !tick {
            return None;
        }
        let now = Instant::now();
        if self.last_look.is_some_and(|at| now.saturating_duration_since(at) < LOOK_EVERY) {
            return None;
        }
        self.last_look = Some(now);
        self.peer_died().map(|pid| Gone::Died { pid })
    }

    /// [`why_refused`](Self::why_refused) as the error of a refused byte
    /// write (`ByteRing`, `DynRing`): out of line, so that their inlined
    /// `write` carries only the call.
    #[cold]
    #[inline(never)]
    pub(crate) fn send_refused(&mut self) -> SendError {
        match self.why_refused() {
            None => SendError::Full,
            Some(Gone::LetGo) => SendError::Closed,
            Some(Gone::Died { pid }) => SendError::PeerDead { pid },
        }
    }

    /// [`RingError::Closed`] if the other side let go (see
    /// [`peer_left`](Self::peer_left)): a waiting write checks it first,
    /// so that it does not fill a ring nobody will read.
    #[inline]
    pub(crate) fn check_peer_left(&self) -> Result<(), RingError> {
        if self.peer_left() {
            return Err(RingError::Closed { name: self.name().clone(), role: R::PEER });
        }
        Ok(())
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
        let peer_mode = self.hot.peer_mode().load(Ordering::Relaxed);
        // The handshake pairs with `wake::announce_sleep` in the other
        // side's `wait_for`: either it sees the position we just stored,
        // or we see its SLEEPING.
        let peer_wait = self.hot.peer_wait();
        if wake::take_sleeper(peer_wait, self.barrier.cheap_wake(peer_mode)) {
            wake_peer(peer_wait);
        }
    }

    /// The error that ends a wait if the other side is gone (let go, or
    /// its process dead). Loaded before the waiter re-checks the
    /// positions, which then sees all the other side published before
    /// letting go (the loom model is `closing_producer_loses_nothing` in
    /// `role.rs`).
    fn peer_gone(&self) -> Option<RingError> {
        match role::load_peer(self.word(R::PEER_ROLE_WORD)) {
            CLOSED => Some(RingError::Closed { name: self.name().clone(), role: R::PEER }),
            FREE => None,
            holder if liveness::alive(holder) == Some(false) => {
                Some(RingError::PeerDead { name: self.name().clone(), role: R::PEER, pid: liveness::pid_of(holder) })
            }
            _ => None,
        }
    }

    /// The async form of [`wait_for`](Self::wait_for), for one poll:
    /// ready when `ready` says so or the other side is gone (or on a
    /// corruption). Otherwise, as `wait_for` spins and yields before it
    /// sleeps, the wait's first poll checks up to [`SPINS`] times and its
    /// next [`YIELDS`] polls yield to the executor
    /// ([`Registration::awake`](crate::segment::waiter::Registration::awake));
    /// only then does it announce this side asleep (the same handshake) and
    /// arm its wait word with this process's waiter threads, to be polled
    /// again when the other side wakes the word, or after a liveness slice
    /// in any case.
    #[cfg(feature = "async")]
    pub(crate) fn poll_wait(
        &mut self,
        cx: &mut core::task::Context<'_>,
        registration: &mut crate::segment::waiter::Registration,
        mut ready: impl FnMut(&mut Self) -> Result<bool, Corrupt>,
    ) -> core::task::Poll<Result<(), RingError>> {
        use crate::segment::waiter::Awake;
        use core::task::Poll;
        let mut check = |this: &mut Self| match this.check() {
            Ok(()) => ready(this).map_err(|c| this.fail(c)),
            Err(e) => Err(e),
        };
        let outcome = match registration.awake(cx, SPINS, YIELDS, || check(self).map(|r| r.then_some(())).transpose()) {
            Awake::Ready(outcome) => outcome,
            Awake::Yielded => return Poll::Pending,
            Awake::Arm => match check(self) {
                Ok(false) => {
                    let gone = self.peer_gone();
                    // Pairs with `wake::take_sleeper` in the other side's
                    // `notify_peer`, as in `wait_for`.
                    let barrier_made = wake::announce_sleep(self.futex(R::WAIT_WORD), self.barrier);
                    match check(self) {
                        Ok(true) => Ok(()),
                        Err(e) => Err(e),
                        Ok(false) => {
                            if let Some(gone) = gone {
                                Err(gone)
                            } else {
                                let slice = if barrier_made { SLEEP_SLICE } else { POLL_SLICE };
                                registration.arm(self.futex(R::WAIT_WORD), wake::SLEEPING, cx.waker(), Some(slice));
                                return Poll::Pending;
                            }
                        }
                    }
                }
                Ok(true) => Ok(()),
                Err(e) => Err(e),
            },
        };
        // Only this side stores SLEEPING in its word (the other side and a
        // leaving peer store AWAKE), so a load that finds AWAKE finds it
        // after this side's own last store: no store is missing. Skipping
        // it keeps the awake regime from writing a line the other side
        // reads on every publish. Relaxed: as the store in `wait_for`, the
        // word orders nothing; the handshake's fences do.
        let wait = self.futex(R::WAIT_WORD);
        if wait.load(Ordering::Relaxed) != AWAKE {
            wait.store(AWAKE, Ordering::Relaxed);
        }
        registration.disarm();
        Poll::Ready(outcome)
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
            let gone = self.peer_gone();
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

    /// Marks this side let go (if this process still holds it), wakes the
    /// other side so it notices (see `role::let_go_and_look`), and decides whether
    /// this end removes the ring's name when its segment goes. `explicit`:
    /// a `cleanup` call, after which the creating end removes the name in
    /// any case (as for every object); a drop keeps it for an other side
    /// that has yet to come for what is in the ring.
    fn leave(&mut self, explicit: bool) {
        let unread = self.segment.is_some() && self.len() > 0;
        let Some(segment) = &self.segment else { return };
        let words = segment.payload().words();
        let me = liveness::me();
        // Relaxed: our own word, which only a process that found us dead
        // changes.
        let held = words[R::ROLE_WORD].load(Ordering::Relaxed) == me;
        if held {
            // The next holder writes its own; until then the other side
            // fences (a cleared word is always safe).
            words[R::MODE_WORD].store(Barrier::Fence.mode_word(), Ordering::Relaxed);
        }
        // Everything we published (and the cleared mode word) is visible
        // to the other side's `wait_for` once it sees CLOSED, and our
        // position to the next holder of this side.
        let peer = role::let_go_and_look(&words[R::ROLE_WORD], &words[R::PEER_ROLE_WORD], me);
        let peer_wait = segment.payload().futex_word(R::PEER_WAIT_WORD);
        peer_wait.store(AWAKE, Ordering::Relaxed);
        segment::futex_wake(peer_wait);
        // Who removes the name (README, "who removes a name"): the
        // creating end, as for every object, except that a dropped creating
        // end whose other side never came keeps it if it leaves items for
        // that side (a producer that wrote and left before its consumer
        // attached); that side then removes it when it goes, once it finds
        // the creating end let go or dead. (An attached other side needs no
        // name: its mapping stays.) If it never comes, the stale cleanup
        // removes the name once this process is gone. An end taken over as
        // dead lets its successor decide.
        let Some(segment) = &mut self.segment else { return };
        let creator = segment.is_creator();
        let remove = match peer {
            None => return,
            Some(role::FREE) => creator && (explicit || !unread),
            Some(role::CLOSED) => true,
            Some(holder) => creator || liveness::alive(holder) == Some(false),
        };
        if remove {
            segment.remove_name_when_done();
        } else {
            segment.keep_name();
        }
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

    /// Whether a slot is free ([`free`](Self::free) for one, the cached
    /// answer one compare); a corruption becomes sticky and is `false`.
    #[inline]
    pub(crate) fn has_free(&mut self) -> bool {
        let (ring, cursor) = self.ring_and_cursor();
        match ring.has_free(cursor) {
            Ok(free) => free,
            Err(c) => {
                self.corrupt.get_or_insert(c);
                false
            }
        }
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

    /// Whether an item is ready ([`available`](Self::available) for one,
    /// the cached answer one compare); a corruption becomes sticky and is
    /// `false`.
    #[inline]
    pub(crate) fn has_ready(&mut self) -> bool {
        let (ring, cursor) = self.ring_and_cursor();
        match ring.has_ready(cursor) {
            Ok(ready) => ready,
            Err(c) => {
                self.corrupt.get_or_insert(c);
                false
            }
        }
    }
}

impl<R: Role> Drop for End<R> {
    fn drop(&mut self) {
        self.leave(false);
    }
}

/// Wakes the other side: out of line, the path taken only when it slept.
#[cold]
#[inline(never)]
fn wake_peer(word: &AtomicU32) {
    segment::futex_wake(word);
}

#[cfg(test)]
mod tests {
    use super::sealed::HasEnd;
    use super::*;
    use crate::{ByteRing, MemoryInterface, Ring as _, SharedObject};

    /// Ends move between threads and are shared by reference (`Hot`'s
    /// addresses are `Send` and `Sync` only by its `unsafe impl`s).
    const _: () = {
        const fn send_sync<S: Send + Sync>() {}
        send_sync::<End<Producer>>();
        send_sync::<End<Consumer>>();
        send_sync::<MemoryInterface<u64>>();
        send_sync::<MemoryInterface<u64, Consumer>>();
        send_sync::<ByteRing<Producer>>();
        send_sync::<ByteRing<Consumer>>();
    };

    /// The ring view rebuilt from `Hot`'s addresses is the ring in the
    /// segment's words: the positions it loads are the ones stored there.
    fn assert_view_is_the_segment<R: Role>(end: &End<R>) {
        let words = end.segment().payload().words();
        let stored = (words[ring::TAIL_WORD].load(Ordering::Relaxed), words[ring::HEAD_WORD].load(Ordering::Relaxed));
        assert_eq!(end.ring().snapshot(), stored);
        assert!(core::ptr::eq(end.hot.peer_mode(), &raw const words[R::PEER_MODE_WORD]));
        assert!(core::ptr::eq(end.hot.peer_wait(), end.segment().payload().futex_word(R::PEER_WAIT_WORD)));
    }

    /// What each end resolved at create or open points into the mapping,
    /// which does not move when the end does: both ends, moved into a box,
    /// a vector and other threads, still pass every item through a ring
    /// smaller than the run (so each side sleeps on its wait word and the
    /// other wakes it through the resolved `peer_wait`), and each view
    /// still sees the segment's words.
    #[test]
    fn hot_parts_resolved_once_survive_moves() {
        const ITEMS: u64 = 1000;
        let tx = Box::new(MemoryInterface::<u64>::create_memorybuf(4).unwrap());
        let rx = vec![MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle()).unwrap()];
        assert_view_is_the_segment(tx.end());
        let consumer = std::thread::spawn(move || {
            let mut rx = rx;
            for expected in 0..ITEMS {
                assert_eq!(rx[0].read_blocking().unwrap(), expected);
            }
            rx.pop().unwrap()
        });
        let producer = std::thread::spawn(move || {
            let mut tx = *tx;
            for item in 0..ITEMS {
                tx.write_blocking(&item).unwrap();
            }
            Box::new(tx)
        });
        let mut tx = producer.join().unwrap();
        let mut rx = consumer.join().unwrap();
        for end in [tx.end().ring().snapshot(), rx.end().ring().snapshot()] {
            assert_eq!(end, (ITEMS, ITEMS));
        }
        assert_view_is_the_segment(tx.end());
        assert_view_is_the_segment(rx.end());
        tx.write(&7).unwrap();
        assert_eq!((rx.len(), rx.read()), (1, Some(7)));
        tx.cleanup().unwrap();
        let closed = rx.read_timeout(Duration::from_secs(5));
        assert!(matches!(closed, Err(RingError::Closed { role: "producer", .. })), "{closed:?}");
    }

    /// The async ring wait's awake regime, polled by hand on this thread
    /// (so `armed_on_this_thread` counts only its registrations): a wait
    /// that becomes ready during the yield phase completes without arming;
    /// one that does not arms after `YIELDS` yielding polls, and the
    /// producer's publish then wakes it through the waiter thread. The
    /// next wait starts over with the awake regime.
    #[cfg(feature = "async")]
    #[test]
    fn yield_then_arm() {
        use crate::segment::waiter::{self, testing::CountingWaker};
        use core::task::{Context, Poll};
        use std::sync::Arc;
        // It arms a registration: the tests that count them must not see it.
        let _serial = waiter::testing::serial();
        // A finished wait leaves the consumer's word AWAKE (else the
        // producer would make a futex call on every publish).
        let awake = |rx: &MemoryInterface<u64, Consumer>| {
            rx.end().futex(ring::CONSUMER_WAIT_WORD).load(Ordering::Relaxed) == AWAKE
        };
        let mut tx = MemoryInterface::<u64>::create_memorybuf(4).unwrap();
        let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle()).unwrap();
        let counter = Arc::new(CountingWaker::default());
        let waker = std::task::Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let woken = |c: &CountingWaker| c.woken();
        let armed_before = waiter::armed_on_this_thread();

        // Ready during the yield phase: every poll before it yielded (woke
        // its task), and none armed.
        {
            let mut read = core::pin::pin!(rx.read_async());
            for poll in 1..YIELDS {
                assert!(read.as_mut().poll(&mut cx).is_pending());
                assert_eq!(woken(&counter), poll as usize, "poll {poll} yielded");
            }
            tx.write(&1).unwrap();
            assert!(matches!(read.as_mut().poll(&mut cx), Poll::Ready(Ok(1))));
        }
        assert!(awake(&rx), "a wait done while yielding left its word asleep");
        assert_eq!(waiter::armed_on_this_thread(), armed_before, "a wait ready while yielding armed");

        // Not ready: YIELDS yielding polls, then the next arms (and does not
        // wake its task itself).
        counter.reset();
        {
            let mut read = core::pin::pin!(rx.read_async());
            for poll in 1..=YIELDS {
                assert!(read.as_mut().poll(&mut cx).is_pending());
                assert_eq!(woken(&counter), poll as usize);
            }
            assert_eq!(waiter::armed_on_this_thread(), armed_before, "armed before the yields were done");
            assert!(read.as_mut().poll(&mut cx).is_pending());
            assert_eq!(waiter::armed_on_this_thread(), armed_before + 1, "not armed after the yields");
            assert_eq!(woken(&counter), YIELDS as usize, "the arming poll woke its own task");
            // The publish wakes the word; the waiter thread wakes the task.
            tx.write(&2).unwrap();
            let woken_by = std::time::Instant::now() + Duration::from_secs(10);
            while woken(&counter) == YIELDS as usize {
                assert!(std::time::Instant::now() < woken_by, "the armed wait was not woken");
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(matches!(read.as_mut().poll(&mut cx), Poll::Ready(Ok(2))));
        }
        assert!(awake(&rx), "an armed wait, once done, left its word asleep");

        // The next wait (a stream's registration lives on) starts over:
        // it yields again before it arms.
        counter.reset();
        let armed_now = waiter::armed_on_this_thread();
        {
            let mut items = rx.stream();
            let mut next = || futures_core::Stream::poll_next(core::pin::Pin::new(&mut items), &mut cx);
            tx.write(&3).unwrap();
            assert!(matches!(next(), Poll::Ready(Some(Ok(3)))));
            assert!(next().is_pending());
            assert_eq!((woken(&counter), waiter::armed_on_this_thread()), (1, armed_now));
        }
    }

    /// The yield phase is what lets a ping-pong between two tasks on one
    /// current-thread executor run without arming: each side's wait
    /// yields, the other task runs and answers, and no wait ever reaches
    /// the waiter threads. (Both are spawned tasks: tokio runs spawned
    /// tasks up to 61 times before it polls `block_on`'s own future again,
    /// so a spawned task waiting on that future would yield all its rounds
    /// and arm.)
    #[cfg(feature = "async")]
    #[test]
    fn ping_pong_on_one_thread_never_arms() {
        use crate::segment::waiter;
        const ROUNDS: u64 = 200;
        let mut req_tx = MemoryInterface::<u64>::create_memorybuf(4).unwrap();
        let mut req_rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&req_tx.handle()).unwrap();
        let mut rep_tx = MemoryInterface::<u64>::create_memorybuf(4).unwrap();
        let mut rep_rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&rep_tx.handle()).unwrap();
        let armed_before = waiter::armed_on_this_thread();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async {
            let echo = tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    let v = req_rx.read_async().await.unwrap();
                    rep_tx.write_async(&(v + 1)).await.unwrap();
                }
            });
            let ask = tokio::spawn(async move {
                for i in 0..ROUNDS {
                    req_tx.write_async(&i).await.unwrap();
                    assert_eq!(rep_rx.read_async().await.unwrap(), i + 1);
                }
            });
            let both = async { (echo.await.unwrap(), ask.await.unwrap()) };
            tokio::time::timeout(Duration::from_secs(10), both).await.expect("ping-pong timed out");
        });
        assert_eq!(waiter::armed_on_this_thread(), armed_before, "a wait armed");
    }

    /// The byte ring's ends too: a message split over more slots than the
    /// ring has goes through after both ends moved to other threads.
    #[test]
    fn byte_ring_ends_survive_moves() {
        let tx = ByteRing::<Producer>::create_memorybuf(8, 2).unwrap();
        let mut rx = Box::new(ByteRing::<Consumer>::load_memorybuf(&tx.handle()).unwrap());
        let message: Vec<u8> = (0..=255).collect();
        let sent = message.clone();
        let producer = std::thread::spawn(move || {
            let mut tx = tx;
            tx.write_partial(&sent, Duration::from_secs(10)).unwrap();
            tx
        });
        let mut got = Vec::new();
        rx.read_timeout(&mut got, Duration::from_secs(10)).unwrap();
        assert_eq!(got, message);
        let tx = producer.join().unwrap();
        assert_view_is_the_segment(tx.end());
        assert_view_is_the_segment(rx.end());
    }

    /// A full write asks whether the consumer's process is alive on the
    /// first refusal, then at most once per `LOOK_EVERY`, timed every
    /// `CLOCK_EVERY` refusals: a consumer that dies after a look is
    /// reported once that much time has passed, and not before.
    #[test]
    fn a_full_write_looks_for_a_dead_consumer_once_a_millisecond() {
        use crate::TryWriteError;
        use crate::format::identity::TOKEN_SHIFT;
        fn consumer_word(tx: &MemoryInterface<u64>) -> &AtomicU64 {
            tx.end().word(ring::CONSUMER_ROLE_WORD)
        }
        let mut tx = MemoryInterface::<u64>::create_memorybuf(2).unwrap();
        tx.write(&1).unwrap();
        tx.write(&2).unwrap();
        // A live holder (this process) for the first look, then one of
        // this pid and slot whose lock token is not ours: dead.
        consumer_word(&tx).store(liveness::me(), Ordering::Relaxed);
        let full = |tx: &mut MemoryInterface<u64>| matches!(tx.write(&3), Err(TryWriteError::Full(3)));
        // Taken before the look: no later look is due while less than
        // `LOOK_EVERY` has passed since this instant.
        let looked = Instant::now();
        assert!(full(&mut tx), "the first refusal looks: the consumer is alive");
        consumer_word(&tx).store(liveness::me() ^ (1 << TOKEN_SHIFT), Ordering::Relaxed);
        for i in 1..=CLOCK_EVERY {
            if looked.elapsed() < LOOK_EVERY {
                assert!(full(&mut tx), "refusal {i}, {:?} after the last look", looked.elapsed());
            }
        }
        std::thread::sleep(LOOK_EVERY);
        let dead = (0..CLOCK_EVERY).position(|_| matches!(tx.write(&3), Err(TryWriteError::PeerDead { value: 3, .. })));
        assert!(dead.is_some(), "no look in {CLOCK_EVERY} refusals, {LOOK_EVERY:?} after the last");
        consumer_word(&tx).store(FREE, Ordering::Relaxed);
        tx.cleanup().unwrap();
    }
}
