//! Looking into a segment without taking part in it: a ring's positions,
//! roles and oldest and newest unread items or messages, a broadcast's
//! subscriber table with each subscriber's lag, a `state` value's bytes,
//! an array's length and elements, for tools such as the `shm` command.
//!
//! A [`Peek`] maps the segment through the same validating open as every
//! typed object (owner and mode, header, nonce), but claims no role, takes
//! no lock and stores nothing: every access is an atomic load. The words
//! it reads are untrusted like any other: a shape that disagrees with the
//! header or the payload size, or a pair of positions no peer could store,
//! is a [`PeekError::Corrupt`], never a panic or an access out of bounds.
//! The layouts read are those of `FORMAT.md`.

use crate::format::header::{Header, Layout, ObjectKind, SchemaRef};
use crate::format::schema::Schema;
use crate::protocol::broadcast::Broadcast as Bcast;
use crate::protocol::cell::{ByteCell, layout_words};
use crate::protocol::ring::{self, Ring};
use crate::protocol::role::{CLOSED, FREE};
use crate::segment::Segment;
use crate::segment::error::OpenError;
use crate::segment::handle::Handle;
use crate::segment::liveness::{self, Liveness};
use crate::segment::options::OpenOptions;
use crate::tools::value::Value;
use core::sync::atomic::{AtomicU64, Ordering, fence};
use std::fmt;

/// Lock-free attempts at a consistent copy (of a cell, or of the pair of
/// ring positions) before a peek gives up with [`PeekError::Contended`].
const ATTEMPTS: u32 = 100_000;
use crate::format::layout::array::{self as array_layout, PREFIX_WORDS as ARRAY_PREFIX_WORDS};
/// Largest message bytes a byte ring's slot may hold (`2^61 - 1`, the
/// slot header's length bits).
const MAX_BYTE_SLOT: u64 = crate::protocol::fragment::LEN_MASK;

/// A segment mapped for looking only: opened through the same validating
/// open as every typed object (owner and mode, header, nonce), it claims no
/// ring role, takes no lock and stores nothing. Every word it reads is
/// untrusted: a shape that disagrees with the header or the payload size,
/// or a pair of ring positions no peer could store, is a
/// [`PeekError::Corrupt`], never a panic.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{Consumer, MemoryInterface, SharedObject};
/// use shm_runtime::tools::{Peek, RoleHolder};
///
/// let mut tx = MemoryInterface::<u64>::create_memorybuf(8)?;
/// tx.write_slice(&[1, 2, 3]);
/// let peek = Peek::open(&tx.handle())?;
/// let ring = peek.ring()?;
/// assert_eq!((ring.capacity, ring.write_position, ring.read_position, ring.fill), (8, 3, 0, 3));
/// assert!(matches!(ring.producer, RoleHolder::Alive { .. }));
/// assert_eq!(ring.consumer, RoleHolder::Free);
/// // Peeking claimed nothing: a consumer can still attach.
/// let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle())?;
/// assert_eq!(rx.read(), Some(1));
/// assert_eq!(peek.ring()?.read_position, 1);
/// # Ok(()) }
/// ```
pub struct Peek {
    segment: Segment,
}

impl fmt::Debug for Peek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peek").field("handle", &self.handle().to_string()).finish()
    }
}

/// Who holds one side of a ring, from its role word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleHolder {
    /// Nobody has attached as this side.
    Free,
    /// The holder dropped its end.
    LetGo,
    /// Held by a live process.
    Alive {
        /// Its process id.
        pid: u64,
    },
    /// Held by a process that died without letting go (the next attacher
    /// takes the role over).
    Dead {
        /// Its process id.
        pid: u64,
    },
    /// Held, but whether the holder lives cannot be told (an invalid
    /// identity, or the kernel did not answer).
    Unknown {
        /// The process id as recorded.
        pid: u64,
    },
}

impl RoleHolder {
    /// Decodes a role word (FORMAT.md, "Process identity" and `ring`).
    fn of(word: u64) -> Self {
        match word {
            FREE => Self::Free,
            CLOSED => Self::LetGo,
            identity => {
                let pid = liveness::pid_of(identity);
                match Liveness::of(liveness::alive(identity)) {
                    Liveness::Alive => Self::Alive { pid },
                    Liveness::Dead => Self::Dead { pid },
                    Liveness::Unknown => Self::Unknown { pid },
                }
            }
        }
    }

    /// The holder's pid, if someone holds (or held, and died holding) the
    /// role.
    #[must_use]
    pub const fn pid(self) -> Option<u64> {
        match self {
            Self::Alive { pid } | Self::Dead { pid } | Self::Unknown { pid } => Some(pid),
            Self::Free | Self::LetGo => None,
        }
    }
}

impl fmt::Display for RoleHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Free => f.write_str("free"),
            Self::LetGo => f.write_str("let go"),
            Self::Alive { pid } => write!(f, "pid {pid} (alive)"),
            Self::Dead { pid } => write!(f, "pid {pid} (dead)"),
            Self::Unknown { pid } => write!(f, "pid {pid} (unknown)"),
        }
    }
}

/// A ring's shape, positions and roles as read at one moment
/// ([`Peek::ring`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingPeek {
    /// Number of slots.
    pub capacity: u64,
    /// Words per slot.
    pub slot_words: u64,
    /// Bytes of an element (`ring`) or the largest message a slot holds
    /// (`bytering`).
    pub slot_bytes: u64,
    /// Items ever published (wrapping at 2^64).
    pub write_position: u64,
    /// Items ever consumed (wrapping at 2^64).
    pub read_position: u64,
    /// Slots written and not yet read: `write_position - read_position`,
    /// at most `capacity`.
    pub fill: u64,
    /// Who holds the producer side.
    pub producer: RoleHolder,
    /// Who holds the consumer side.
    pub consumer: RoleHolder,
}

/// An array's length and element size ([`Peek::array`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArrayPeek {
    /// Number of elements.
    pub len: u64,
    /// Bytes of one element.
    pub element_size: u64,
}

/// One unread item of a ring ([`Peek::ring_unread`]): its position and
/// its value decoded by field.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RingItem {
    /// The item's position (items published before it, wrapping).
    pub position: u64,
    /// The item, decoded with the segment's schema.
    pub value: Value,
}

/// The oldest and newest unread items of a ring ([`Peek::ring_unread`]);
/// `None` when the ring is empty, or the item was consumed while it was
/// read.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RingUnread {
    /// The next item the consumer will take.
    pub oldest: Option<RingItem>,
    /// The last item the producer published.
    pub newest: Option<RingItem>,
}

/// One message of a byte ring ([`Peek::byte_ring_unread`]): where it
/// starts, how long it is, and its first bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ByteMessage {
    /// The position of its first slot.
    pub position: u64,
    /// Slots it spans.
    pub slots: u64,
    /// Its length in bytes.
    pub len: u64,
    /// Its first bytes (at most [`MESSAGE_PREVIEW`]).
    pub head: Vec<u8>,
}

/// Slots from either end of a byte ring's unread part that
/// [`Peek::byte_ring_unread`] looks through for a whole message, at most
/// (so that a look at a huge ring, or one full of slots that end no
/// message, stays short).
const SCAN_SLOTS: u64 = 1 << 16;

/// Bytes of a byte ring's message that [`Peek::byte_ring_unread`] copies.
pub const MESSAGE_PREVIEW: usize = 32;

/// The oldest and newest complete unread messages of a byte ring
/// ([`Peek::byte_ring_unread`]); `None` when there is none, or the
/// message was consumed while it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ByteRingUnread {
    /// The next message the consumer will return.
    pub oldest: Option<ByteMessage>,
    /// The last message the producer completed.
    pub newest: Option<ByteMessage>,
}

/// One entry of a broadcast's subscriber table in use
/// ([`BroadcastPeek::subscribers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriberPeek {
    /// The table entry.
    pub slot: usize,
    /// Who holds the entry.
    pub holder: RoleHolder,
    /// Whether the entry is active (its subscriber has joined and holds
    /// the publisher back in `Backpressure`).
    pub active: bool,
    /// The subscriber's read position, as stored.
    pub cursor: u64,
    /// Items published that it has not read (`write_position - cursor`),
    /// at most the capacity; 0 for a corrupt entry.
    pub lag: u64,
    /// Why the entry is corrupt, if it is: no cooperating subscriber
    /// could have stored it.
    pub corrupt: Option<&'static str>,
}

/// What `Peek::broadcast_table` read, for either kind of broadcast.
struct BroadcastTable<'a> {
    /// The ring, its shape checked against the payload by `split`.
    ring: Bcast<'a>,
    /// Checked against the payload size by `split`.
    shape: crate::protocol::broadcast::Shape,
    tail: u64,
    first: u64,
    publisher: RoleHolder,
    subscribers: Vec<SubscriberPeek>,
}

impl BroadcastTable<'_> {
    /// The element words of the item before the write position, and its
    /// position; `None` if nothing was published, or its sequence word did
    /// not name it before and after the copy (it was being replaced).
    ///
    /// The check is the overwrite subscribers' own (FORMAT.md,
    /// `broadcast`, `Broadcast::look`), whatever the policy: the publisher
    /// marks every slot busy while it replaces it, so a look that races a
    /// publisher a whole ring ahead (which only a broadcast nobody holds
    /// back can be) finds it replaced, never a mix.
    fn newest_slot(&self) -> Option<(u64, Vec<u64>)> {
        if self.tail == self.first {
            return None;
        }
        let wrap = ring::wrap_of(self.ring.capacity());
        let position = self.tail.checked_sub(1).unwrap_or(wrap - 1);
        let mut element = Vec::new();
        let whole = self.ring.look(position, |words| {
            // Relaxed: inside the sequence check (`look`).
            element = words.iter().map(|w| w.load(Ordering::Relaxed)).collect();
        });
        whole.then_some((position, element))
    }
}

/// A byte broadcast's shape, write position, publisher and subscribers,
/// and its newest message, as read at one moment
/// ([`Peek::byte_broadcast`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ByteBroadcastPeek {
    /// The overflow policy.
    pub policy: crate::Policy,
    /// Number of slots.
    pub capacity: u64,
    /// Largest message, in bytes.
    pub slot_size: u64,
    /// Past messages a late subscriber starts with, at most.
    pub history: u64,
    /// Table entries (the most subscribers at once).
    pub max_subscribers: u64,
    /// Messages ever published (wrapping), from where it started.
    pub write_position: u64,
    /// Who holds the publisher role.
    pub publisher: RoleHolder,
    /// The entries in use (held, or garbage), by slot.
    pub subscribers: Vec<SubscriberPeek>,
    /// The newest message (`slots` is 1); `None` when nothing was
    /// published, or it was replaced while it was copied.
    pub newest: Option<ByteMessage>,
}

/// A broadcast's shape, write position, publisher and subscribers, and
/// its newest item, as read at one moment ([`Peek::broadcast`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BroadcastPeek {
    /// The overflow policy.
    pub policy: crate::Policy,
    /// Number of slots.
    pub capacity: u64,
    /// Bytes of an element.
    pub element_bytes: u64,
    /// Past items a late subscriber starts with, at most.
    pub history: u64,
    /// Table entries (the most subscribers at once).
    pub max_subscribers: u64,
    /// Items ever published (wrapping), from where it started.
    pub write_position: u64,
    /// Who holds the publisher role.
    pub publisher: RoleHolder,
    /// The entries in use (held, or garbage), by slot.
    pub subscribers: Vec<SubscriberPeek>,
    /// The newest item, decoded by field; `None` when nothing was
    /// published, or it was replaced while it was copied.
    pub newest: Option<RingItem>,
}

/// Why a [`Peek`] could not read what was asked. It arises from asking a
/// segment for what its kind does not hold, from words no cooperating
/// process could have stored, from a schema that does not parse, and from
/// writers that kept changing the value while it was copied:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::tools::{Peek, PeekError};
/// use shm_runtime::{SharedInt, SharedObject};
///
/// let counter = SharedInt::create_sharedobject(3)?;
/// let look = Peek::open(&counter.handle())?;
/// let refused = look.ring().unwrap_err(); // an int is not a ring
/// assert!(matches!(refused, PeekError::WrongKind { .. }), "{refused}");
/// # Ok(()) }
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeekError {
    /// The segment holds another kind of object than the read needs.
    WrongKind {
        /// The segment.
        name: String,
        /// What the read needs (`"ring or bytering"`, `"state"`, `"array"`).
        expected: &'static str,
        /// The kind the segment holds.
        found: ObjectKind,
    },
    /// A word of the payload disagrees with the header or with the other
    /// words: no cooperating process could have stored it.
    Corrupt {
        /// The segment.
        name: String,
        /// What is wrong.
        what: &'static str,
        /// The value found.
        found: u64,
    },
    /// Writers kept changing the value (or the positions) for every
    /// attempt at a consistent copy.
    Contended {
        /// The segment.
        name: String,
    },
    /// The segment's schema was refused (malformed, over a limit, or not
    /// hashing to the fingerprint): values cannot be decoded by field.
    BadSchema {
        /// The segment.
        name: String,
        /// Why.
        why: String,
    },
    /// An array index at or past the length.
    IndexOutOfRange {
        /// The segment.
        name: String,
        /// The index asked for.
        index: u64,
        /// The array's length.
        len: u64,
    },
}

impl fmt::Display for PeekError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongKind { name, expected, found } => {
                write!(f, "segment {name:?} holds a {found}, not a {expected}")
            }
            Self::Corrupt { name, what, found } => write!(f, "segment {name:?} is corrupt: {what} (found {found})"),
            Self::Contended { name } => {
                write!(f, "segment {name:?} kept changing under every attempt at a consistent copy")
            }
            Self::BadSchema { name, why } => write!(f, "segment {name:?} has a bad schema: {why}"),
            Self::IndexOutOfRange { name, index, len } => {
                write!(f, "segment {name:?}: index {index} is out of range for an array of {len} elements")
            }
        }
    }
}

impl std::error::Error for PeekError {}

impl Peek {
    /// Opens the segment `handle` names for peeking, as what the handle
    /// announces, with the strict default [`OpenOptions`] (this user's
    /// segment, mode `0600`). Everything a typed open checks is checked,
    /// except the stored type, which the peeker does not know: the
    /// handle's fingerprint must match the header's. A segment whose
    /// schema is bad opens all the same (see [`schema`](Self::schema)), so
    /// that its raw words can be shown.
    pub fn open(handle: &Handle) -> Result<Self, OpenError> {
        Self::open_with(handle, &OpenOptions::new())
    }

    /// Opens like [`open`](Self::open), with `options` deciding the wait
    /// and which owners and modes are accepted.
    pub fn open_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        // The fingerprint comes from the handle, so only a header that
        // disagrees with the handle is refused; the schema is the
        // segment's own (`schema`), checked against that fingerprint.
        let layout =
            Layout { fingerprint: handle.fingerprint(), type_name: "the handle's type", schema: SchemaRef::Stored };
        let segment = Segment::open_keeping_bad_schema(handle, handle.kind(), layout, options)?;
        Ok(Self { segment })
    }

    /// The handle that opens this segment.
    #[must_use]
    pub fn handle(&self) -> Handle {
        self.segment.handle()
    }

    /// The header, as validated at open.
    #[must_use]
    pub fn header(&self) -> Header {
        *self.segment.header()
    }

    /// The stored type's schema, as the segment describes it (validated
    /// at open: within the limits, hashing to the fingerprint). For a
    /// `state` the value's type, for a `ring` or an `array` the element's.
    ///
    /// A peek opens a segment whose schema is bad (where a typed open
    /// refuses it with `OpenError::BadSchema`), so that tools can still
    /// show its raw words.
    ///
    /// # Errors
    ///
    /// [`PeekError::BadSchema`] saying why the schema was refused.
    pub fn schema(&self) -> Result<&Schema, PeekError> {
        self.segment.schema().map_err(|why| PeekError::BadSchema { name: self.name(), why: why.to_owned() })
    }

    /// The object's kind.
    #[must_use]
    pub fn kind(&self) -> ObjectKind {
        self.handle().kind()
    }

    fn name(&self) -> String {
        self.segment.name().as_str().to_owned()
    }

    fn corrupt(&self, what: &'static str, found: u64) -> PeekError {
        PeekError::Corrupt { name: self.name(), what, found }
    }

    fn expect_kind(&self, ok: bool, expected: &'static str) -> Result<(), PeekError> {
        if ok { Ok(()) } else { Err(PeekError::WrongKind { name: self.name(), expected, found: self.kind() }) }
    }

    /// A ring's (`ring` or `bytering`) shape, positions, fill and role
    /// holders, read now. The shape words are checked against the kind and
    /// the payload size; the positions are loaded until a pair at most
    /// `capacity` apart is seen (a peer moves them all the time).
    pub fn ring(&self) -> Result<RingPeek, PeekError> {
        let kind = self.kind();
        self.expect_kind(matches!(kind, ObjectKind::Ring | ObjectKind::ByteRing), "ring or bytering")?;
        let words = self.segment.payload().words();
        let shape = Ring::stored_shape(words).map_err(|what| self.corrupt(what, 0))?;
        let slot_words = shape.slot_words as u64;
        let expected_words = if kind == ObjectKind::ByteRing {
            if shape.element_bytes == 0 || shape.element_bytes > MAX_BYTE_SLOT {
                return Err(self.corrupt("slot size word is not 1 to 2^61 - 1", shape.element_bytes));
            }
            1 + shape.element_bytes.div_ceil(8)
        } else {
            shape.element_bytes.div_ceil(8)
        };
        if slot_words != expected_words {
            return Err(self.corrupt("words per slot disagree with the slot size", slot_words));
        }
        let ring = Ring::split(words, shape.capacity, shape.slot_words)
            .ok_or_else(|| self.corrupt("capacity word disagrees with the payload size", shape.capacity))?;
        let mut attempt = 0;
        let (write_position, read_position, fill) = loop {
            // Two loads, not one snapshot: a pair more than `capacity`
            // apart may be the consumer moving between them, so look again.
            let (tail, head) = ring.snapshot();
            if let Some(fill) = ring::occupied(tail, head, shape.capacity) {
                break (tail, head, fill);
            }
            attempt += 1;
            if attempt == ATTEMPTS {
                return Err(self.corrupt("write position is not 0 to capacity items past the read position", tail));
            }
            std::thread::yield_now();
        };
        // Acquire pairs with the Release of a claim or a let-go; nothing
        // is read through it, it only keeps the report in order.
        let role = |index: usize| RoleHolder::of(words[index].load(Ordering::Acquire));
        Ok(RingPeek {
            capacity: shape.capacity,
            slot_words,
            slot_bytes: shape.element_bytes,
            write_position,
            read_position,
            fill,
            producer: role(ring::PRODUCER_ROLE_WORD),
            consumer: role(ring::CONSUMER_ROLE_WORD),
        })
    }

    /// The bytes of a `state` segment's value (a `Shared<T>`'s `T`), a
    /// complete copy some write produced: the byte cell's lock-free reader
    /// protocol, which never takes the writer lock.
    pub fn state_bytes(&self) -> Result<Vec<u8>, PeekError> {
        self.expect_kind(self.kind() == ObjectKind::State, "state")?;
        let words = self.segment.payload().words();
        let cell = ByteCell::attach(words).map_err(|what| self.corrupt(what, words.get(2).map_or(0, load)))?;
        self.read_cell(&cell)
    }

    /// The oldest and newest unread items of a `ring` (a
    /// `MemoryInterface<T>`), decoded by field, without consuming them.
    ///
    /// Reading a slot claims nothing, so the consumer may take an item
    /// and the producer reuse its slot while it is being copied: after the
    /// copy the read position is loaded again, and an item the consumer
    /// has passed by then is left out (`None`) rather than shown torn.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::tools::{Peek, Value};
    /// use shm_runtime::{MemoryInterface, SharedObject};
    ///
    /// let mut tx = MemoryInterface::<u64>::create_memorybuf(8)?;
    /// tx.write_slice(&[10, 20, 30]);
    /// let unread = Peek::open(&tx.handle())?.ring_unread()?;
    /// let oldest = unread.oldest.unwrap();
    /// assert_eq!((oldest.position, oldest.value), (0, Value::Unsigned(10)));
    /// assert_eq!(unread.newest.unwrap().value, Value::Unsigned(30));
    /// // Dropped with unread items and no consumer yet, a producer keeps
    /// // the ring's name for a consumer to come; `cleanup` removes it.
    /// tx.cleanup()?;
    /// # Ok(()) }
    /// ```
    pub fn ring_unread(&self) -> Result<RingUnread, PeekError> {
        self.expect_kind(self.kind() == ObjectKind::Ring, "ring")?;
        // Checks the shape words against the kind and the payload size.
        let shape = self.ring()?;
        let words = self.segment.payload().words();
        let slot_words = usize::try_from(shape.slot_words).unwrap_or(usize::MAX);
        let ring = Ring::split(words, shape.capacity, slot_words)
            .ok_or_else(|| self.corrupt("capacity word disagrees with the payload size", shape.capacity))?;
        let size = usize::try_from(shape.slot_bytes).unwrap_or(usize::MAX);
        let (mut oldest, mut newest) = (vec![0; size], vec![0; size]);
        // The ring protocol's reader that claims nothing: an item the
        // consumer freed while it was copied is left out, not shown torn.
        let (oldest_at, newest_at) = ring.peek_unread(&mut oldest, &mut newest);
        let item = |position: Option<u64>, bytes: &[u8]| -> Result<Option<RingItem>, PeekError> {
            position.map(|position| Ok(RingItem { position, value: self.decode(bytes)? })).transpose()
        };
        Ok(RingUnread { oldest: item(oldest_at, &oldest)?, newest: item(newest_at, &newest)? })
    }

    /// A `state` segment's value decoded by field with the segment's
    /// schema ([`schema`](Self::schema)): what [`state_bytes`](Self::state_bytes)
    /// reads, as a [`Value`] tree.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::tools::{Peek, Value};
    /// use shm_runtime::{Flag, SharedObject, SharedState};
    ///
    /// #[derive(SharedState, Clone, Copy)]
    /// #[repr(C)]
    /// struct Pose {
    ///     position: [f64; 3],
    ///     seq: u32,
    ///     moving: Flag,
    ///     _pad: [u8; 3],
    /// }
    ///
    /// let pose = Pose { position: [1.5, -2.0, 0.0], seq: 7, moving: Flag::new(true), _pad: [0; 3] };
    /// let shared = Pose::create_sharedobject(&pose)?;
    /// let value = Peek::open(&shared.handle())?.state_value()?;
    /// assert_eq!(value.field("seq"), Some(&Value::Unsigned(7)));
    /// assert_eq!(value.field("position").unwrap().to_string(), "[1.5, -2.0, 0.0]");
    /// # Ok(()) }
    /// ```
    pub fn state_value(&self) -> Result<Value, PeekError> {
        let bytes = self.state_bytes()?;
        self.decode(&bytes)
    }

    /// Element `index` of an `array` segment decoded by field (as
    /// [`state_value`](Self::state_value)).
    pub fn array_element_value(&self, index: u64) -> Result<Value, PeekError> {
        let bytes = self.array_element(index)?;
        self.decode(&bytes)
    }

    /// `bytes` decoded with the segment's schema; a size that differs from
    /// the schema's is corrupt (a peer's schema and payload disagree).
    fn decode(&self, bytes: &[u8]) -> Result<Value, PeekError> {
        Value::decode(self.schema()?, bytes)
            .map_err(|_| self.corrupt("the schema's size differs from the stored value's", bytes.len() as u64))
    }

    /// An `array` segment's length and element size, checked against the
    /// stride and the payload size.
    pub fn array(&self) -> Result<ArrayPeek, PeekError> {
        self.array_layout().map(|layout| ArrayPeek { len: layout.len, element_size: layout.element_size as u64 })
    }

    /// The bytes of element `index` of an `array` segment, a complete copy
    /// some write produced (as [`state_bytes`](Self::state_bytes)).
    pub fn array_element(&self, index: u64) -> Result<Vec<u8>, PeekError> {
        let layout = self.array_layout()?;
        if index >= layout.len {
            return Err(PeekError::IndexOutOfRange { name: self.name(), index, len: layout.len });
        }
        // Fits: `8 + len * stride` words were checked to be the payload.
        let start =
            usize::try_from(index).ok().and_then(|i| i.checked_mul(layout.stride)).map(|s| s + ARRAY_PREFIX_WORDS);
        let words = self.segment.payload().words();
        let cell = start
            .and_then(|start| words.get(start..start + layout.cell_words))
            .and_then(|cell| ByteCell::split(cell, layout.element_size))
            .ok_or_else(|| self.corrupt("element lies outside the payload", index))?;
        self.read_cell(&cell)
    }

    fn array_layout(&self) -> Result<ArrayLayout, PeekError> {
        self.expect_kind(self.kind() == ObjectKind::Array, "array")?;
        let words = self.segment.payload().words();
        let word = |i: usize| words.get(i).map(load).ok_or_else(|| self.corrupt("payload too small for an array", 0));
        let (len, size, stride) =
            (word(array_layout::LEN_WORD)?, word(array_layout::ELEMENT_SIZE_WORD)?, word(array_layout::STRIDE_WORD)?);
        let element_size =
            usize::try_from(size).ok().filter(|s| *s > 0).ok_or_else(|| self.corrupt("element size word", size))?;
        let cell_words = layout_words(element_size).ok_or_else(|| self.corrupt("element size word", size))?;
        let Some(stride) = array_layout::stride(cell_words).filter(|expected| *expected as u64 == stride) else {
            return Err(self.corrupt("stride word disagrees with the element size", stride));
        };
        let total = usize::try_from(len).ok().and_then(|n| n.checked_mul(stride)?.checked_add(ARRAY_PREFIX_WORDS));
        if total != Some(words.len()) {
            return Err(self.corrupt("length word disagrees with the payload size", len));
        }
        Ok(ArrayLayout { len, element_size, cell_words, stride })
    }

    fn read_cell(&self, cell: &ByteCell<'_>) -> Result<Vec<u8>, PeekError> {
        let mut bytes = vec![0; cell.capacity()];
        cell.read_range(0, &mut bytes[..], ATTEMPTS)
            .map(|()| bytes)
            .ok_or_else(|| PeekError::Contended { name: self.name() })
    }
}

impl Peek {
    /// A broadcast's shape, write position, publisher, subscriber table
    /// and newest item, read now. Every word is untrusted: the shape is
    /// checked against the payload size, each table entry is clamped and
    /// checked against the write position (a cursor ahead of it, or more
    /// than a ring behind, is shown as corrupt, not refused).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::tools::Peek;
    /// use shm_runtime::{Broadcast, BroadcastConfig, Policy, SharedObject};
    ///
    /// let mut tx = Broadcast::<u64>::create(&BroadcastConfig::new(8, Policy::Overwrite))?;
    /// let _rx = tx.subscribe()?;
    /// tx.publish_slice(&[1, 2, 3]);
    /// let peek = Peek::open(&tx.handle())?.broadcast()?;
    /// assert_eq!((peek.capacity, peek.subscribers.len(), peek.subscribers[0].lag), (8, 1, 3));
    /// # Ok(()) }
    /// ```
    pub fn broadcast(&self) -> Result<BroadcastPeek, PeekError> {
        self.expect_kind(self.kind() == ObjectKind::Broadcast, "broadcast")?;
        let table = self.broadcast_table()?;
        let newest = match table.newest_slot() {
            Some((position, element)) => {
                let mut bytes: Vec<u8> = element.iter().flat_map(|w| w.to_ne_bytes()).collect();
                bytes.truncate(usize::try_from(table.shape.element_bytes).unwrap_or(usize::MAX));
                Some(RingItem { position, value: self.decode(&bytes)? })
            }
            None => None,
        };
        let shape = table.shape;
        Ok(BroadcastPeek {
            policy: shape.policy,
            capacity: shape.capacity,
            element_bytes: shape.element_bytes,
            history: shape.history.min(shape.capacity),
            max_subscribers: shape.max_subscribers as u64,
            write_position: table.tail,
            publisher: table.publisher,
            subscribers: table.subscribers,
            newest,
        })
    }

    /// A byte broadcast's shape, write position, publisher, subscriber
    /// table and newest message (its length and first
    /// [`MESSAGE_PREVIEW`] bytes), read now, checked as
    /// [`broadcast`](Self::broadcast) checks a broadcast; a length word
    /// above the slot size is [`PeekError::Corrupt`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::tools::Peek;
    /// use shm_runtime::{BroadcastConfig, ByteBroadcast, Policy, SharedObject};
    ///
    /// let mut tx = ByteBroadcast::create(64, &BroadcastConfig::new(8, Policy::Overwrite))?;
    /// let _rx = tx.subscribe()?;
    /// tx.publish_many(&["one", "two", "three"])?;
    /// let peek = Peek::open(&tx.handle())?.byte_broadcast()?;
    /// assert_eq!((peek.slot_size, peek.subscribers[0].lag), (64, 3));
    /// let newest = peek.newest.unwrap();
    /// assert_eq!((newest.position, newest.len, newest.head), (2, 5, b"three".to_vec()));
    /// # Ok(()) }
    /// ```
    pub fn byte_broadcast(&self) -> Result<ByteBroadcastPeek, PeekError> {
        self.expect_kind(self.kind() == ObjectKind::ByteBroadcast, "byte broadcast")?;
        let table = self.broadcast_table()?;
        let shape = table.shape;
        let words_agree = |size: &u64| Some(shape.slot_words) == usize::try_from(size.div_ceil(8) + 1).ok();
        let slot_size = shape
            .element_bytes
            .checked_sub(8)
            .filter(|size| (1..=1 << 32).contains(size) && words_agree(size))
            .ok_or_else(|| self.corrupt("slot words disagree with the element bytes", shape.element_bytes))?;
        let newest = match table.newest_slot() {
            Some((position, element)) => {
                let len = element[0];
                if len > slot_size {
                    return Err(self.corrupt("message length word is above the slot size", len));
                }
                let mut head: Vec<u8> = element[1..].iter().flat_map(|w| w.to_ne_bytes()).collect();
                head.truncate(usize::try_from(len).unwrap_or(usize::MAX).min(MESSAGE_PREVIEW));
                Some(ByteMessage { position, slots: 1, len, head })
            }
            None => None,
        };
        Ok(ByteBroadcastPeek {
            policy: shape.policy,
            capacity: shape.capacity,
            slot_size,
            history: shape.history.min(shape.capacity),
            max_subscribers: shape.max_subscribers as u64,
            write_position: table.tail,
            publisher: table.publisher,
            subscribers: table.subscribers,
            newest,
        })
    }

    /// What a broadcast of either kind shows: its checked shape, write
    /// position, publisher and table entries.
    fn broadcast_table(&self) -> Result<BroadcastTable<'_>, PeekError> {
        use crate::format::layout::broadcast as layout;
        let words = self.segment.payload().words();
        let shape = Bcast::stored_shape(words).map_err(|what| self.corrupt(what, 0))?;
        let ring = Bcast::split(words, shape)
            .ok_or_else(|| self.corrupt("shape words disagree with the payload size", shape.capacity))?;
        let capacity = shape.capacity;
        let wrap = ring::wrap_of(capacity);
        // Acquire pairs with the publisher's Release store of the write
        // position (`publish`): the items before it are in their slots.
        let tail = words[layout::TAIL_WORD].load(Ordering::Acquire);
        if tail >= wrap {
            return Err(self.corrupt("write position is not below the wrap of the capacity", tail));
        }
        // Acquire pairs with the Release of a claim or a let-go, as in
        // `ring`: it only keeps the report in order.
        let publisher = RoleHolder::of(words[layout::PUBLISHER_ROLE_WORD].load(Ordering::Acquire));
        let mut subscribers = Vec::new();
        for slot in 0..ring.entries() {
            let base = layout::TABLE_WORD + slot * layout::ENTRY_WORDS;
            // In range: `split` checked the table's words; `get` all the
            // same, so that a mistake is a missing entry, not a panic.
            let word = |which: usize| words.get(base + which).map_or(FREE, |w| w.load(Ordering::Relaxed));
            let (role, active, cursor) =
                (word(layout::ENTRY_ROLE), word(layout::ENTRY_ACTIVE), word(layout::ENTRY_CURSOR));
            if (role == FREE || role == CLOSED) && active == FREE {
                continue;
            }
            let (lag, corrupt) = if active != FREE && active != role {
                (0, Some("active word is not the holder's identity"))
            } else if cursor >= wrap {
                (0, Some("cursor is not a position"))
            } else if let Some(lag) = Some(ring::distance(tail, cursor, wrap)).filter(|lag| *lag <= capacity) {
                (lag, None)
            } else if ring::distance(cursor, tail, wrap) < wrap / 2 {
                (0, Some("cursor is ahead of the write position"))
            } else {
                (0, Some("cursor is more than a ring behind"))
            };
            subscribers.push(SubscriberPeek {
                slot,
                holder: RoleHolder::of(role),
                active: active != FREE,
                cursor,
                lag,
                corrupt,
            });
        }
        let first = words[layout::FIRST_WORD].load(Ordering::Relaxed);
        Ok(BroadcastTable { ring, shape, tail, first, publisher, subscribers })
    }

    /// The oldest and newest complete unread messages of a `bytering`:
    /// where each starts, how long it is, and its first
    /// [`MESSAGE_PREVIEW`] bytes, without consuming them. As in
    /// [`ring_unread`](Self::ring_unread), a message the consumer passed
    /// while it was copied is left out; a slot header no producer could
    /// store, or a message not yet complete, is left out as well, and so
    /// is a message that does not end within the first (or start within
    /// the last) 65536 unread slots. A consumer part-way through a
    /// message shows the next message as the oldest.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::tools::Peek;
    /// use shm_runtime::{ByteRing, SharedObject};
    ///
    /// let mut tx = ByteRing::create_memorybuf(16, 8)?;
    /// tx.write(b"first")?;
    /// tx.write(b"second")?;
    /// let unread = Peek::open(&tx.handle())?.byte_ring_unread()?;
    /// assert_eq!(unread.oldest.unwrap().head, b"first");
    /// assert_eq!(unread.newest.unwrap().len, 6);
    /// # tx.cleanup()?;
    /// # Ok(()) }
    /// ```
    pub fn byte_ring_unread(&self) -> Result<ByteRingUnread, PeekError> {
        use crate::protocol::fragment::{ABORT, CONT, LEN_MASK, MORE};
        self.expect_kind(self.kind() == ObjectKind::ByteRing, "bytering")?;
        let shape = self.ring()?;
        let words = self.segment.payload().words();
        let capacity = shape.capacity;
        let wrap = ring::wrap_of(capacity);
        // Acquire pairs with the producer's Release store of the write
        // position: the slots before it are filled.
        let tail = words[ring::TAIL_WORD].load(Ordering::Acquire);
        let head = words[ring::HEAD_WORD].load(Ordering::Relaxed);
        let none = ByteRingUnread { oldest: None, newest: None };
        let Some(fill) = ring::occupied(tail, head, capacity).filter(|fill| *fill > 0) else {
            return Ok(none);
        };
        let at = |offset: u64| ring::advance(head, offset, wrap);
        let header = |offset: u64| -> Result<u64, PeekError> {
            let slot = self.copy_slot_words(words, &shape, at(offset) % capacity, 1)?;
            Ok(slot.first().copied().unwrap_or(ABORT))
        };
        // An ABORT slot, or a length over the slot size, ends no message.
        let valid = |h: u64| h & ABORT == 0 && h & LEN_MASK <= shape.slot_bytes;
        // The message of the slots `first..=last` (offsets from `head`).
        let message = |first: u64, last: u64| -> Result<ByteMessage, PeekError> {
            let mut len = 0u64;
            for offset in first..=last {
                len = len.saturating_add(header(offset)? & LEN_MASK);
            }
            let first_len = header(first)? & LEN_MASK;
            let take = usize::try_from(first_len).unwrap_or(usize::MAX).min(MESSAGE_PREVIEW);
            let slot = self.copy_slot_words(words, &shape, at(first) % capacity, 1 + take.div_ceil(8))?;
            let mut bytes: Vec<u8> = slot.iter().skip(1).flat_map(|w| w.to_ne_bytes()).collect();
            bytes.truncate(take);
            Ok(ByteMessage { position: at(first), slots: last - first + 1, len, head: bytes })
        };
        // Oldest: the first start slot, then its fragments up to one
        // without MORE.
        let mut oldest = None;
        let mut start = None;
        for offset in 0..fill.min(SCAN_SLOTS) {
            let h = header(offset)?;
            if !valid(h) {
                start = None;
                continue;
            }
            if h & CONT == 0 {
                start = Some(offset);
            }
            if h & MORE == 0
                && let Some(first) = start
            {
                oldest = Some(message(first, offset)?);
                break;
            }
        }
        // Newest: the last slot without MORE, back to its start.
        let mut newest = None;
        let low = fill.saturating_sub(SCAN_SLOTS);
        'outer: for last in (low..fill).rev() {
            let h = header(last)?;
            if !valid(h) || h & MORE != 0 {
                continue;
            }
            for first in (low..=last).rev() {
                let f = header(first)?;
                if !valid(f) || (first != last && f & MORE == 0) {
                    continue 'outer;
                }
                if f & CONT == 0 {
                    newest = Some(message(first, last)?);
                    break 'outer;
                }
            }
        }
        // As in `Ring::peek_unread`: pairs with the producer's
        // fence(Release) in `Ring::free`, after it loads the read position
        // and before it reuses the slots freed: a slot word copied above
        // that it stored after that fence means the re-load below sees the
        // read position it saw (or a later one), and a message whose first
        // slot the consumer has passed by then is dropped.
        fence(Ordering::Acquire);
        let head_now = words[ring::HEAD_WORD].load(Ordering::Relaxed);
        let unread = ring::occupied(tail, head_now, capacity).unwrap_or(0);
        let keep = |m: Option<ByteMessage>| m.filter(|m| ring::distance(tail, m.position, wrap) <= unread);
        Ok(ByteRingUnread { oldest: keep(oldest), newest: keep(newest) })
    }

    /// The first `count` words of slot `index` (below the capacity) of a
    /// ring, one relaxed load each.
    fn copy_slot_words(
        &self,
        words: &[AtomicU64],
        shape: &RingPeek,
        index: u64,
        count: usize,
    ) -> Result<Vec<u64>, PeekError> {
        let slot_words = usize::try_from(shape.slot_words).unwrap_or(usize::MAX);
        let start = usize::try_from(index)
            .ok()
            .and_then(|i| i.checked_mul(slot_words))
            .and_then(|i| i.checked_add(ring::SLOTS_WORD));
        let slot = start
            .and_then(|start| words.get(start..start.checked_add(count.min(slot_words))?))
            .ok_or_else(|| self.corrupt("slot lies outside the payload", index))?;
        Ok(slot.iter().map(|w| w.load(Ordering::Relaxed)).collect())
    }
}

/// An array's geometry, validated against its payload.
struct ArrayLayout {
    len: u64,
    element_size: usize,
    /// Words of one element's byte cell.
    cell_words: usize,
    /// Words from one element to the next.
    stride: usize,
}

/// A relaxed load of a shape word: written before the segment was
/// published, which the open's Acquire load of the state word orders.
fn load(word: &core::sync::atomic::AtomicU64) -> u64 {
    word.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ByteRing, Consumer, MemoryInterface, Shared, SharedArray, SharedInt, SharedObject};

    /// A value of three words, standing in for a derived struct (the
    /// derive's own tests live in the root package).
    type Pose = [u64; 3];

    fn pose_bytes(p: &Pose) -> Vec<u8> {
        p.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    #[test]
    fn ring_positions_fill_and_roles() {
        let mut tx = MemoryInterface::<u64>::create_memorybuf(8).unwrap();
        assert_eq!(tx.write_slice(&[1, 2, 3, 4, 5]), 5);
        let peek = Peek::open(&tx.handle()).unwrap();
        let me = u64::from(std::process::id());
        let ring = peek.ring().unwrap();
        assert_eq!(
            ring,
            RingPeek {
                capacity: 8,
                slot_words: 1,
                slot_bytes: 8,
                write_position: 5,
                read_position: 0,
                fill: 5,
                producer: RoleHolder::Alive { pid: me },
                consumer: RoleHolder::Free,
            }
        );
        let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle()).unwrap();
        assert_eq!(rx.read(), Some(1));
        assert_eq!(rx.read(), Some(2));
        let ring = peek.ring().unwrap();
        assert_eq!((ring.write_position, ring.read_position, ring.fill), (5, 2, 3));
        assert_eq!(ring.consumer, RoleHolder::Alive { pid: me });
        drop(rx);
        assert_eq!(peek.ring().unwrap().consumer, RoleHolder::LetGo);
        // Peeking claimed nothing and wrote nothing: the ring still works.
        let mut rx = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle()).unwrap();
        assert_eq!(rx.read(), Some(3));
        assert!(peek.state_bytes().is_err(), "a ring is not a state");
    }

    #[test]
    fn byte_ring_shape() {
        let mut tx = ByteRing::create_memorybuf(20, 4).unwrap();
        tx.write(b"hello").unwrap();
        let ring = Peek::open(&tx.handle()).unwrap().ring().unwrap();
        assert_eq!((ring.capacity, ring.slot_bytes, ring.slot_words, ring.fill), (4, 20, 4, 1));
        // A message left for a consumer: only `cleanup` removes the name now.
        tx.cleanup().unwrap();
    }

    #[test]
    fn garbage_positions_and_shape_are_errors_not_panics() {
        let tx = MemoryInterface::<u64>::create_memorybuf(4).unwrap();
        let peek = Peek::open(&tx.handle()).unwrap();
        let words = peek.segment.payload().words();
        // The write position (word 8) far past the read position.
        words[8].store(1000, Ordering::Relaxed);
        let err = peek.ring().unwrap_err();
        assert!(matches!(err, PeekError::Corrupt { found: 1000, .. }), "{err}");
        words[8].store(u64::MAX, Ordering::Relaxed);
        assert!(matches!(peek.ring(), Err(PeekError::Corrupt { .. })));
        words[8].store(0, Ordering::Relaxed);
        assert_eq!(peek.ring().unwrap().fill, 0);
        // A capacity word that disagrees with the payload size.
        words[0].store(u64::MAX, Ordering::Relaxed);
        assert!(matches!(peek.ring(), Err(PeekError::Corrupt { found: u64::MAX, .. })));
        words[0].store(4, Ordering::Relaxed);
        // Words per slot that disagree with the element size.
        words[1].store(2, Ordering::Relaxed);
        assert!(matches!(peek.ring(), Err(PeekError::Corrupt { found: 2, .. })));
        words[1].store(1, Ordering::Relaxed);
        // A role word with an identity nobody could hold.
        words[ring::CONSUMER_ROLE_WORD].store(0x0000_ffff_0000_0007, Ordering::Relaxed);
        assert_eq!(peek.ring().unwrap().consumer, RoleHolder::Unknown { pid: 7 });
        words[ring::CONSUMER_ROLE_WORD].store(0, Ordering::Relaxed);
    }

    #[test]
    fn state_bytes_are_the_last_written_value() {
        let value = [1, u64::MAX, 7];
        let shared = Shared::create_sharedobject(&value).unwrap();
        let peek = Peek::open(&shared.handle()).unwrap();
        assert_eq!(peek.state_bytes().unwrap(), pose_bytes(&value));
        let next = [3, 4, 8];
        shared.write(&next).unwrap();
        assert_eq!(peek.state_bytes().unwrap(), pose_bytes(&next));
        assert!(matches!(peek.ring(), Err(PeekError::WrongKind { found: ObjectKind::State, .. })));
        // A capacity word that disagrees with the payload is corrupt.
        peek.segment.payload().words()[2].store(1 << 40, Ordering::Relaxed);
        assert!(matches!(peek.state_bytes(), Err(PeekError::Corrupt { found: 0x100_0000_0000, .. })));
    }

    #[test]
    fn array_length_and_elements() {
        let array = SharedArray::<Pose>::create_sharedobject(3).unwrap();
        let value = [25, 5, 99];
        array.set(2, &value).unwrap();
        let peek = Peek::open(&array.handle()).unwrap();
        assert_eq!(peek.array().unwrap(), ArrayPeek { len: 3, element_size: 24 });
        assert_eq!(peek.array_element(2).unwrap(), pose_bytes(&value));
        assert_eq!(peek.array_element(0).unwrap(), vec![0; 24]);
        assert!(matches!(peek.array_element(3), Err(PeekError::IndexOutOfRange { index: 3, len: 3, .. })));
        let words = peek.segment.payload().words();
        words[0].store(u64::MAX, Ordering::Relaxed);
        assert!(matches!(peek.array(), Err(PeekError::Corrupt { found: u64::MAX, .. })));
        assert!(peek.array_element(2).is_err());
        words[0].store(3, Ordering::Relaxed);
        words[2].store(5, Ordering::Relaxed);
        assert!(matches!(peek.array(), Err(PeekError::Corrupt { found: 5, .. })));
    }

    #[test]
    fn opening_checks_the_handle() {
        let counter = SharedInt::create_sharedobject(5).unwrap();
        let peek = Peek::open(&counter.handle()).unwrap();
        assert_eq!(peek.kind(), ObjectKind::Int);
        assert_eq!(peek.header().creator_pid(), u64::from(std::process::id()));
        let text = counter.handle().to_string();
        // Same name, another nonce: the handle is stale.
        let nonce = format!("{:016x}", counter.handle().nonce() ^ 1);
        let stale: Handle = text.replace(&format!("{:016x}", counter.handle().nonce()), &nonce).parse().unwrap();
        assert!(matches!(Peek::open(&stale), Err(OpenError::StaleHandle { .. })));
        assert!(matches!(peek.array(), Err(PeekError::WrongKind { .. })));
    }

    #[test]
    fn broadcast_subscribers_lags_and_garbage_entries() {
        use crate::format::layout::broadcast as layout;
        use crate::{Broadcast, BroadcastConfig, Policy};
        let mut tx = Broadcast::<u64>::create(&BroadcastConfig::new(8, Policy::Overwrite).max_subscribers(4)).unwrap();
        let mut fast = tx.subscribe().unwrap();
        let _slow = tx.subscribe().unwrap();
        assert_eq!(tx.publish_slice(&[1, 2, 3, 4, 5]), 5);
        for _ in 0..5 {
            fast.read().unwrap();
        }
        let peek = Peek::open(&tx.handle()).unwrap();
        let b = peek.broadcast().unwrap();
        let me = u64::from(std::process::id());
        assert_eq!((b.policy, b.capacity, b.element_bytes, b.max_subscribers), (Policy::Overwrite, 8, 8, 4));
        assert_eq!(b.publisher, RoleHolder::Alive { pid: me });
        let lags: Vec<(usize, u64, Option<&str>)> = b.subscribers.iter().map(|s| (s.slot, s.lag, s.corrupt)).collect();
        assert_eq!(lags, [(0, 0, None), (1, 5, None)]);
        let newest = b.newest.unwrap();
        assert_eq!(newest.value, Value::Unsigned(5));
        assert_eq!(newest.position, b.write_position.wrapping_sub(1));
        // Garbage in a free entry and a cursor ahead: shown as corrupt.
        let words = peek.segment.payload().words();
        let entry = |slot: usize, which: usize| &words[layout::TABLE_WORD + slot * layout::ENTRY_WORDS + which];
        entry(2, layout::ENTRY_ROLE).store(0xdead, Ordering::Relaxed);
        entry(2, layout::ENTRY_ACTIVE).store(0xbeef, Ordering::Relaxed);
        entry(3, layout::ENTRY_ROLE).store(u64::MAX - 1, Ordering::Relaxed);
        entry(3, layout::ENTRY_ACTIVE).store(u64::MAX - 1, Ordering::Relaxed);
        entry(3, layout::ENTRY_CURSOR).store(b.write_position + 3, Ordering::Relaxed);
        let b = peek.broadcast().unwrap();
        assert_eq!(b.subscribers.len(), 4);
        assert_eq!(b.subscribers[2].corrupt, Some("active word is not the holder's identity"));
        assert_eq!(b.subscribers[3].corrupt, Some("cursor is ahead of the write position"));
        entry(3, layout::ENTRY_CURSOR).store(u64::MAX, Ordering::Relaxed);
        assert_eq!(peek.broadcast().unwrap().subscribers[3].corrupt, Some("cursor is not a position"));
        for slot in 2..4 {
            for which in [layout::ENTRY_ROLE, layout::ENTRY_ACTIVE, layout::ENTRY_CURSOR] {
                entry(slot, which).store(0, Ordering::Relaxed);
            }
        }
        // A capacity word that disagrees with the payload: an error.
        words[layout::CAPACITY_WORD].store(u64::MAX, Ordering::Relaxed);
        assert!(matches!(peek.broadcast(), Err(PeekError::Corrupt { .. })));
        words[layout::CAPACITY_WORD].store(8, Ordering::Relaxed);
        assert_eq!(peek.broadcast().unwrap().subscribers.len(), 2);
    }

    #[test]
    fn byte_ring_oldest_and_newest_messages() {
        let mut tx = ByteRing::create_memorybuf(8, 8).unwrap();
        let peek = Peek::open(&tx.handle()).unwrap();
        assert_eq!(peek.byte_ring_unread().unwrap(), ByteRingUnread { oldest: None, newest: None });
        tx.write(b"hi").unwrap();
        tx.write_partial(b"a message of 25 bytes....", std::time::Duration::from_secs(5)).unwrap();
        let unread = peek.byte_ring_unread().unwrap();
        let oldest = unread.oldest.unwrap();
        assert_eq!((oldest.position, oldest.slots, oldest.len, oldest.head.as_slice()), (0, 1, 2, &b"hi"[..]));
        let newest = unread.newest.unwrap();
        assert_eq!((newest.position, newest.slots, newest.len), (1, 4, 25));
        assert_eq!(newest.head, b"a messag");
        // A header no producer could store: that message is left out.
        let words = peek.segment.payload().words();
        words[ring::SLOTS_WORD].store(1000, Ordering::Relaxed);
        let unread = peek.byte_ring_unread().unwrap();
        assert_eq!(unread.oldest.unwrap().position, 1);
        words[ring::SLOTS_WORD].store(2, Ordering::Relaxed);
        tx.cleanup().unwrap();
    }
}
