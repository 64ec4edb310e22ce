//! The broadcast: [`Broadcast<T>`](publisher::Broadcast), which creates a
//! broadcast ring and is its publisher, and
//! [`Subscriber<T>`](subscriber::Subscriber), one of up to
//! `max_subscribers` readers, each with its own read position. The
//! protocol is in `protocol/broadcast.rs`; this layer holds the segment,
//! the claims on the publisher's role word and the table entries, and the
//! waiting.

pub(crate) mod bytes;
pub(crate) mod dynamic;
pub(crate) mod error;
pub(crate) mod publisher;
pub(crate) mod subscriber;

use crate::format::header::{Layout, ObjectKind, SchemaRef};
use crate::object::state::SharedState;
use crate::protocol::broadcast::{self as protocol, Geometry, Policy};
use crate::protocol::wake::Barrier;
use crate::segment::Segment;
use crate::segment::error::OpenError;
use crate::segment::handle::Handle;
use crate::segment::name::SegmentName;
use crate::segment::options::OpenOptions;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

/// Polls before a waiting call starts yielding the processor.
const SPINS: u32 = 200;
/// Yields before a waiting call sleeps on the futex.
const YIELDS: u32 = 20;
/// Longest single futex sleep: a waiter checks this often whether the
/// other side is still alive.
const SLEEP_SLICE: Duration = Duration::from_millis(20);
/// How long a waiter whose wake barrier failed sleeps between checks.
const POLL_SLICE: Duration = Duration::from_millis(1);

/// How a broadcast is made: its capacity and policy, and optionally how
/// many subscribers it admits and how many past items a late subscriber
/// starts with. Fixed at creation and recorded in the segment.
///
/// ```
/// use shm_runtime::{BroadcastConfig, Policy};
///
/// let config = BroadcastConfig::new(1024, Policy::Overwrite).max_subscribers(8).history(16);
/// assert_eq!(config.capacity(), 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroadcastConfig {
    capacity: usize,
    policy: Policy,
    max_subscribers: usize,
    history: usize,
}

impl BroadcastConfig {
    /// Table entries when not set: 64 subscribers at a time.
    pub const DEFAULT_MAX_SUBSCRIBERS: usize = 64;
    /// Most table entries a broadcast may have.
    pub const MAX_SUBSCRIBERS: usize = protocol::MAX_SUBSCRIBERS;

    /// `capacity` slots (1 to 2^32) under `policy`, with
    /// [`DEFAULT_MAX_SUBSCRIBERS`](Self::DEFAULT_MAX_SUBSCRIBERS) entries
    /// and no history (a late subscriber starts at the next item).
    #[must_use]
    pub const fn new(capacity: usize, policy: Policy) -> Self {
        Self { capacity, policy, max_subscribers: Self::DEFAULT_MAX_SUBSCRIBERS, history: 0 }
    }

    /// Admits at most `n` subscribers at a time (1 to
    /// [`MAX_SUBSCRIBERS`](Self::MAX_SUBSCRIBERS)).
    #[must_use]
    pub const fn max_subscribers(mut self, n: usize) -> Self {
        self.max_subscribers = n;
        self
    }

    /// A late subscriber starts with up to `n` past items (at most the
    /// capacity; fewer if fewer were published, or, under
    /// [`Policy::Backpressure`], if the publisher may already reuse their
    /// slots).
    #[must_use]
    pub const fn history(mut self, n: usize) -> Self {
        self.history = n;
        self
    }

    /// The number of slots.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        self.capacity
    }

    /// The overflow policy.
    #[must_use]
    pub const fn policy(&self) -> Policy {
        self.policy
    }
}

/// Words per slot for elements of `T` (the sequence word not counted).
const fn slot_words<T>() -> usize {
    slot_words_for(size_of::<T>())
}

/// Words per slot for elements of `size` bytes (at least one).
const fn slot_words_for(size: usize) -> usize {
    let words = size.div_ceil(8);
    if words == 0 { 1 } else { words }
}

/// What the header records for elements of `T`.
const fn layout<T: SharedState>() -> Layout<'static> {
    Layout { fingerprint: T::FINGERPRINT, type_name: T::TYPE_NAME, schema: SchemaRef::Desc(T::SCHEMA) }
}

/// One side's segment, where the words its hot paths touch lie in it,
/// and this process's wake barrier.
pub(crate) struct Side {
    /// `None` only after `take_segment` (of the publisher's or a
    /// subscriber's end) took it, in an `into_segment` that consumes the
    /// end: from then on only the end's `Drop` runs, which finds no
    /// segment and touches no word (so nothing uses `hot` once the
    /// mapping may be gone).
    segment: Option<Segment>,
    hot: Hot,
    barrier: Barrier,
}

/// Where the words the hot paths (publish, read, waking the other side)
/// touch lie in a segment's mapping, resolved once at create or open
/// (with the ring's geometry checked there) rather than on every call:
/// the ring's view itself, made once, so that a publish or a read takes
/// a reference to it rather than rebuilding it.
///
/// `'static` and raw addresses stand for "as long as the side holds its
/// segment" (the mapping, which moving the segment does not move):
/// [`Side`] hands out only references that live as long as a borrow of
/// itself, during which it holds the segment (see `Side::segment`).
struct Hot {
    /// The ring over all the payload's words.
    ring: protocol::Broadcast<'static>,
    /// The publisher's wait word (the first four bytes of its word in
    /// the payload, only ever accessed as this 32-bit futex word).
    publisher_wait: NonNull<AtomicU32>,
    /// The subscribers' shared wait word (likewise).
    subscriber_wait: NonNull<AtomicU32>,
}

// SAFETY: a `Hot` is references to and addresses of atomics in a shared
// mapping, and `Side` gives out only shared references to them, which
// are `Send` and `Sync`: moving one to another thread is as sound as
// moving those references, and the mapping does not belong to a thread.
unsafe impl Send for Hot {}
// SAFETY: as for `Send`: `&Hot` gives out nothing but those shared
// references to atomics.
unsafe impl Sync for Hot {}

impl Side {
    /// The side of `segment`, whose payload `geometry` was made for (by
    /// `protocol::Broadcast::split` over its words).
    fn new(segment: Segment, geometry: Geometry, barrier: Barrier) -> Self {
        let payload = segment.payload();
        let words = NonNull::from(payload.words());
        // SAFETY: the address came from a live `&[AtomicU64]` of the
        // segment's mapping, and the side keeps the segment, whose mapping
        // stays where it is, for as long as anything borrows the side (the
        // type's comment); `Side` narrows `'static` to such a borrow
        // before it hands a reference out. The words are only ever
        // accessed through shared references to atomics.
        let words: &'static [AtomicU64] = unsafe { words.as_ref() };
        assert_eq!(words.len(), geometry.words(), "the geometry was made for this payload");
        // SAFETY: checked just above: the geometry was made for exactly
        // these words.
        let ring = unsafe { protocol::Broadcast::view_unchecked(words, geometry) };
        let hot = Hot {
            ring,
            publisher_wait: NonNull::from(payload.futex_word(protocol::PUBLISHER_WAIT_WORD)),
            subscriber_wait: NonNull::from(payload.futex_word(protocol::SUBSCRIBER_WAIT_WORD)),
        };
        Self { segment: Some(segment), hot, barrier }
    }

    fn segment(&self) -> &Segment {
        self.segment.as_ref().expect("only cleanup takes the segment, and it consumes the side")
    }

    /// The ring, for a borrow of the side (made once, in `new`).
    #[inline]
    fn ring(&self) -> &protocol::Broadcast<'_> {
        &self.hot.ring
    }

    /// The overflow policy (no look at the segment).
    #[inline]
    fn policy(&self) -> Policy {
        self.hot.ring.policy()
    }

    #[inline]
    fn word(&self, index: usize) -> &AtomicU64 {
        &self.hot.ring.fixed()[index]
    }

    /// The publisher's futex word (only ever accessed through this 32-bit
    /// view).
    #[inline]
    fn publisher_wait(&self) -> &AtomicU32 {
        // SAFETY: as for the ring's words (`new`); the address came from
        // `Payload::futex_word`, which made this 32-bit view.
        unsafe { self.hot.publisher_wait.as_ref() }
    }

    /// The subscribers' shared futex word (likewise).
    #[inline]
    fn subscriber_wait(&self) -> &AtomicU32 {
        // SAFETY: as in `publisher_wait`.
        unsafe { self.hot.subscriber_wait.as_ref() }
    }

    fn name(&self) -> &SegmentName {
        self.segment().name()
    }
}

/// Opens the broadcast `handle` names for elements of `T`, checking the
/// stored shape against `T` and the payload size.
fn open_segment<T: SharedState>(handle: &Handle, options: &OpenOptions) -> Result<Side, OpenError> {
    open_side(handle, options, ObjectKind::Broadcast, layout::<T>(), |shape, _| element_fits(shape, size_of::<T>()))
}

/// Whether a stored shape's slot words hold elements of `size` bytes
/// exactly as this version lays them out.
fn element_fits(shape: &protocol::Shape, size: usize) -> bool {
    shape.slot_words == slot_words_for(size) && shape.element_bytes == size as u64
}

/// Opens the broadcast of `kind` and `layout` that `handle` names,
/// checking the stored shape (untrusted) with `fits` (whether its slot
/// words suit the element; it may look at the segment's schema) and
/// against the payload size.
pub(crate) fn open_side(
    handle: &Handle,
    options: &OpenOptions,
    kind: ObjectKind,
    layout: Layout<'_>,
    fits: impl FnOnce(&protocol::Shape, &Segment) -> bool,
) -> Result<Side, OpenError> {
    let segment = Segment::open(handle, kind, layout, None, options)?;
    let geometry = {
        let words = segment.payload().words();
        let checked = protocol::Broadcast::stored_shape(words).and_then(|shape| {
            if !fits(&shape, &segment) {
                return Err("slot size words disagree with the element type");
            }
            protocol::Broadcast::split(words, shape)
                .map(|ring| ring.geometry())
                .ok_or("shape words disagree with the payload size")
        });
        checked.map_err(|what| OpenError::Corrupt { name: segment.name().clone(), what })?
    };
    Ok(Side::new(segment, geometry, crate::segment::barrier::this_process()))
}
