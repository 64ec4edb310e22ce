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

/// One side's segment, the ring's geometry checked against it, and this
/// process's wake barrier.
pub(crate) struct Side {
    /// `None` only after `into_segment` took it.
    segment: Option<Segment>,
    geometry: Geometry,
    barrier: Barrier,
}

impl Side {
    fn segment(&self) -> &Segment {
        self.segment.as_ref().expect("only cleanup takes the segment, and it consumes the side")
    }

    /// The ring, a view for a borrow of the side.
    #[inline]
    fn ring(&self) -> protocol::Broadcast<'_> {
        protocol::Broadcast::view(self.segment().payload().words(), self.geometry)
    }

    #[inline]
    fn word(&self, index: usize) -> &AtomicU64 {
        &self.segment().payload().words()[index]
    }

    /// A futex word (only ever accessed through this 32-bit view).
    #[inline]
    fn futex(&self, index: usize) -> &AtomicU32 {
        self.segment().payload().futex_word(index)
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
    Ok(Side { segment: Some(segment), geometry, barrier: crate::segment::barrier::this_process() })
}
