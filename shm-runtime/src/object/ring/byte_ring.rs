//! `ByteRing`: a single-producer, single-consumer ring of byte messages of
//! any length up to a slot size fixed at creation (and of any length with
//! `write_partial`), the seed's `MemoryInterface` in its byte form.
//!
//! Each slot is one header word and the message bytes (see `FORMAT.md`):
//!
//! ```text
//! bit 63      MORE: the message continues in the next slot
//! bit 62      ABORT: the unfinished message before this slot is void;
//!             the slot carries no bytes
//! bit 61      CONT: this slot continues a message begun in an earlier slot
//! bits 0..61  number of bytes in this slot, at most the slot size
//! ```
//!
//! A message split over slots is whole or absent whichever end dies at
//! whichever fragment, and whoever attaches next: every slot says whether
//! it begins or continues a message, so that state lives in the segment.
//! A producer about to begin a message voids one left open in the last
//! slot published (by a `write_partial` that gave up, or by a producer
//! that died) with an ABORT slot; a consumer drops an unfinished message
//! when a slot begins another one, and drops continuations whose start it
//! never took (a consumer that died took it). The protocol, its tests and
//! its loom model are in `fragment.rs`.
//!
//! The header is untrusted: a length above the slot size or an ABORT with
//! any other bit makes the consumer's end corrupt (sticky).

use crate::format::header::{Layout, ObjectKind};
use crate::format::schema;
use crate::object::ring::Ring;
use crate::object::ring::end::{Consumer, End, Producer, Role, sealed};
use crate::object::shared_object::sealed::{SegmentOwned, SegmentRef};
use crate::object::shared_object::{self, SharedObject};
use crate::protocol::fragment::{self, LEN_MASK, Reassembly, Taken};
use crate::segment::DEFAULT_OPEN_WAIT;
use crate::segment::error::{CreateError, OpenError, RingError, SendError};
use crate::segment::handle::Handle;
use crate::segment::name::SegmentName;
use crate::segment::options::OpenOptions;
use core::fmt;
use std::time::{Duration, Instant};

/// What the header records for every byte ring. `v2`: slots carry the
/// CONT bit; ends of the `v1` format (without it) refuse the ring, and it
/// refuses them, with a layout mismatch.
const LAYOUT: Layout<'static> = Layout::of(schema::builtin::BYTES, "ByteRing");

/// A ring of byte messages in shared memory with one producer and one
/// consumer, in two processes. Every slot holds up to `slot_size` bytes
/// (fixed at creation) and the message's length, so a read returns
/// exactly the bytes written: never padding, never an older message's
/// tail. A message longer than a slot is refused
/// ([`SendError::TooLarge`]), with nothing written, unless it is sent with
/// [`write_partial`](ByteRing::write_partial), which splits it over as
/// many slots as it needs (the consumer gets it back whole).
///
/// Roles, waiting, corruption and speed work as for
/// [`MemoryInterface`](crate::MemoryInterface): `R` is the side this end
/// holds, a claim checked at attach.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{ByteRing, Consumer, SendError, SharedObject};
/// use std::time::Duration;
///
/// let mut tx = ByteRing::create_memorybuf(16, 4)?; // 16-byte slots, 4 of them
/// let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
/// tx.write(b"hello")?;
/// assert_eq!(tx.write(&[0; 17]), Err(SendError::TooLarge { len: 17, slot: 16 }));
/// tx.write_partial(b"a message longer than one slot", Duration::from_secs(1))?;
///
/// let mut message = Vec::new();
/// assert!(rx.read(&mut message)?);
/// assert_eq!(message, b"hello");
/// assert!(rx.read(&mut message)?);
/// assert_eq!(message, b"a message longer than one slot");
/// assert!(!rx.read(&mut message)?, "nothing left");
/// # Ok(()) }
/// ```
pub struct ByteRing<R: Role = Producer> {
    end: End<R>,
    /// Largest message bytes per slot.
    slot: usize,
    /// Producer: whether the last slot published says MORE, so that the
    /// next message starts with an ABORT slot (a `write_partial` gave up,
    /// or the producer before this one died mid-message). What the segment
    /// says: read from the slot before the write position the first time
    /// it is needed (`None` until then), then kept up to date by every
    /// publish, since only the holder of the producer role writes slots.
    last_open: Option<bool>,
    /// Consumer: the message being put together from fragments.
    assembly: Reassembly,
    /// The encoding buffer of `write_serde`, the decoding one of
    /// `read_serde`; reused.
    #[cfg_attr(not(feature = "serde"), expect(dead_code, reason = "used by the serde methods"))]
    scratch: Vec<u8>,
    /// Consumer: longest message it accepts.
    max_message: usize,
    /// Consumer read as a byte stream (`io::Read`): the current message,
    /// and how much of it was handed out (`stream_at <= stream.len()`).
    pub(crate) stream: Vec<u8>,
    pub(crate) stream_at: usize,
}

impl<R: Role> ByteRing<R> {
    /// Creates a ring of `nr_of_memories` slots of up to `slot_size` bytes
    /// each under a generated name, and holds its `R` side (the seed's
    /// `MemoryInterface(size_per_memory, nr_of_memories)`).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{ByteRing, Ring};
    ///
    /// let tx: ByteRing = ByteRing::create_memorybuf(1024, 64)?; // 64 messages of up to 1 KiB
    /// assert_eq!((tx.slot_size(), tx.capacity()), (1024, 64));
    /// # Ok(()) }
    /// ```
    pub fn create_memorybuf(slot_size: usize, nr_of_memories: usize) -> Result<Self, CreateError> {
        Self::create(None, slot_size, nr_of_memories)
    }

    /// Creates a ring like [`create_memorybuf`](Self::create_memorybuf)
    /// under `name`, for programs that meet by name
    /// ([`open`](SharedObject::open)).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{ByteRing, Consumer, SharedObject};
    /// # let name = format!("shmrs-doc-bytes-named-{}", std::process::id());
    /// let mut tx = ByteRing::create_named(&name, 64, 8)?;
    /// let mut rx = ByteRing::<Consumer>::open(&name)?; // another process
    /// tx.write(b"ping")?;
    /// let mut message = Vec::new();
    /// assert!(rx.read(&mut message)?);
    /// assert_eq!(message, b"ping");
    /// # Ok(()) }
    /// ```
    pub fn create_named(name: &str, slot_size: usize, nr_of_memories: usize) -> Result<Self, CreateError> {
        Self::create(Some(name), slot_size, nr_of_memories)
    }

    fn create(name: Option<&str>, slot_size: usize, nr_of_memories: usize) -> Result<Self, CreateError> {
        let slot_words = slot_words(slot_size).ok_or_else(|| {
            let name = name.map_or_else(|| Ok(SegmentName::unnamed()), SegmentName::new);
            match name {
                Ok(name) => CreateError::InvalidCapacity {
                    name,
                    capacity: slot_size,
                    reason: "a slot holds 1 to 2^61 - 1 bytes",
                },
                Err(e) => CreateError::InvalidName(e),
            }
        })?;
        let end = End::create(name, ObjectKind::ByteRing, LAYOUT, nr_of_memories, slot_words, slot_size as u64)?;
        Ok(Self::with_end(end, slot_size))
    }

    fn with_end(end: End<R>, slot: usize) -> Self {
        Self {
            end,
            slot,
            last_open: None,
            assembly: Reassembly::default(),
            scratch: Vec::new(),
            max_message: usize::MAX,
            stream: Vec::new(),
            stream_at: 0,
        }
    }

    /// Opens the ring `handle` names as its `R` side, waiting up to
    /// [`DEFAULT_OPEN_WAIT`] for its creator to finish setting it up. The
    /// slot size is the creator's.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{ByteRing, Consumer, Handle, SharedObject};
    ///
    /// let tx: ByteRing = ByteRing::create_memorybuf(256, 16)?; // the producer side
    /// let handle: Handle = tx.handle().to_string().parse()?; // in the consumer's process
    /// let rx = ByteRing::<Consumer>::load_memorybuf(&handle)?;
    /// assert_eq!(rx.slot_size(), 256);
    /// # Ok(()) }
    /// ```
    pub fn load_memorybuf(handle: &Handle) -> Result<Self, OpenError> {
        Self::load_sharedobject_timeout(handle, DEFAULT_OPEN_WAIT)
    }

    /// Largest number of bytes one slot holds (a message `write` accepts).
    #[must_use]
    pub fn slot_size(&self) -> usize {
        self.slot
    }
}

impl<R: Role> SharedObject for ByteRing<R> {
    /// Opens the ring `handle` names as its `R` side if `options` accept
    /// the segment's owner and mode (see [`OpenOptions`]), waiting up to
    /// `options.wait_time()` for its creator. The side is a claim: a live
    /// holder is [`OpenError::RoleTaken`]; a dead holder's claim is taken
    /// over. The slot size is the creator's.
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        let mut slot = 0;
        let end = End::open(handle, ObjectKind::ByteRing, LAYOUT, options, |shape, _| {
            let size = usize::try_from(shape.element_bytes).ok().filter(|s| slot_words(*s) == Some(shape.slot_words));
            slot = size.ok_or("slot size word disagrees with the words per slot")?;
            Ok(())
        })?;
        Ok(Self::with_end(end, slot))
    }
}

impl<R: Role> shared_object::sealed::Sealed for ByteRing<R> {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(self.end.segment())
    }

    fn into_segment(self) -> SegmentOwned {
        SegmentOwned(self.end.into_segment())
    }
}

impl<R: Role> sealed::HasEnd for ByteRing<R> {
    type Side = R;

    fn end(&self) -> &End<R> {
        &self.end
    }
}

impl<R: Role> Ring for ByteRing<R> {}

/// Words per slot for messages of up to `slot_size` bytes: the header and
/// the bytes; `None` for a size the header cannot hold.
fn slot_words(slot_size: usize) -> Option<usize> {
    (slot_size > 0 && (slot_size as u64) <= LEN_MASK).then(|| 1 + slot_size.div_ceil(8))
}

impl ByteRing<Producer> {
    /// Whether a `write` of a message up to the slot size would find room
    /// now.
    #[inline]
    pub fn can_write(&mut self) -> bool {
        self.room(1).is_ok_and(|n| n > 0)
    }

    /// Free slots for a new message (loading the consumer's position if
    /// fewer than `wanted` are known free), after voiding a message the
    /// last slot published left open; 0 if even that found no room.
    #[inline]
    fn room(&mut self, wanted: u64) -> Result<u64, RingError> {
        self.end.check()?;
        // Known closed (every message this end wrote ended): the common
        // case, inlined; the rest (the first message, or one left open)
        // out of line.
        if self.last_open != Some(false) && !self.close_open_message()? {
            return Ok(0);
        }
        self.free(wanted)
    }

    /// If the last slot published leaves a message open, publishes an
    /// ABORT slot after it; `false` if there was no room for it.
    #[inline(never)]
    fn close_open_message(&mut self) -> Result<bool, RingError> {
        if self.last_message_open() {
            if self.free(1)? == 0 {
                return Ok(false);
            }
            // The ABORT slot: the consumer drops what it has of the message
            // a failed `write_partial` or a dead producer left unfinished.
            let (ring, cursor) = self.end.ring_and_cursor();
            fragment::put_abort(ring.next_free_slot(cursor));
            ring.publish(cursor, 1);
            self.last_open = Some(false);
        }
        Ok(true)
    }

    /// Whether the last slot published leaves a message open; looked up in
    /// the segment once, when this end first begins a message (a producer
    /// that attached after one that died mid-message finds MORE there).
    fn last_message_open(&mut self) -> bool {
        if let Some(open) = self.last_open {
            return open;
        }
        let capacity = self.end.shape.capacity;
        let (ring, cursor) = self.end.ring_and_cursor();
        // The slot of write position - 1 is the slot of write position +
        // capacity - 1 (positions wrap at a multiple of the capacity): the
        // last one published, which only a producer writes, and not before
        // its next lap. Only its header is read.
        let open = fragment::left_open(ring.free_slot(cursor, capacity - 1));
        self.last_open = Some(open);
        open
    }

    #[inline]
    fn free(&mut self, wanted: u64) -> Result<u64, RingError> {
        self.end.free(wanted).map_err(|c| self.end.fail(c))
    }

    /// Waits until [`room`](Self::room) finds a free slot; returns how
    /// many are free.
    fn wait_room(&mut self, deadline: Option<Instant>, wanted: u64) -> Result<u64, RingError> {
        loop {
            let free = self.room(wanted)?;
            if free > 0 {
                return Ok(free);
            }
            self.end.wait_for(deadline, |end| end.free(1).map(|n| n > 0))?;
        }
    }

    /// Writes `message` into the next slot, without waiting. A message
    /// longer than the slot size is [`SendError::TooLarge`]; a full ring
    /// (or one found corrupt, see [`error`](ByteRing::error))
    /// [`SendError::Full`]; a ring whose consumer let go
    /// [`SendError::Closed`], a full one whose consumer died
    /// [`SendError::PeerDead`]. In every case nothing is written.
    // Always inlined, as `MemoryInterface::write` is (see there).
    #[expect(clippy::inline_always, reason = "as MemoryInterface::write (see there)")]
    #[inline(always)]
    pub fn write(&mut self, message: &[u8]) -> Result<(), SendError> {
        if message.len() > self.slot {
            return Err(SendError::TooLarge { len: message.len(), slot: self.slot });
        }
        // The common case, inlined: no sticky corruption, the last message
        // known closed (no ABORT slot owed), the consumer still there and a
        // slot free by the cached read position (one compare). Anything
        // else goes the general way, which checks it all again.
        if self.end.corrupt.is_none() && self.last_open == Some(false) && !self.end.peer_left() && self.end.has_free() {
            self.put_whole(message);
            return Ok(());
        }
        self.write_slow(message)
    }

    /// [`write`](Self::write) when the fast path did not apply, out of
    /// line: the first message (which looks for an open one), an ABORT
    /// slot owed, a full ring, a consumer gone, a corruption.
    #[inline(never)]
    fn write_slow(&mut self, message: &[u8]) -> Result<(), SendError> {
        if self.end.peer_left() || !self.can_write() {
            return Err(self.end.send_refused());
        }
        self.put_whole(message);
        Ok(())
    }

    /// Writes `message`, waiting up to `timeout` for a free slot (a
    /// timeout too long for the clock is no deadline).
    pub fn write_timeout(&mut self, message: &[u8], timeout: Duration) -> Result<(), RingError> {
        if message.len() > self.slot {
            return Err(RingError::TooLarge { name: self.name().clone(), len: message.len(), max: self.slot });
        }
        self.end.check_peer_left()?;
        self.wait_room(Instant::now().checked_add(timeout), 1)?;
        self.put_whole(message);
        Ok(())
    }

    /// Writes `message`, waiting as long as it takes for a free slot (or
    /// until the consumer dies or lets go).
    pub fn write_blocking(&mut self, message: &[u8]) -> Result<(), RingError> {
        self.write_timeout(message, Duration::MAX)
    }

    /// Writes `data` as one message of any length, split over as many
    /// slots as it needs; the consumer's [`read`](ByteRing::read) returns
    /// it whole. Fragments are published as slots free up (each batch with
    /// one store), so `data` may be longer than the whole ring; the call
    /// waits up to `timeout` in all (`Duration::MAX`: as long as it takes).
    ///
    /// If it fails part-way (timeout, consumer gone), the consumer never
    /// returns the part already sent: the next write first marks it void.
    /// So does the first write of a producer that attaches after this one
    /// died part-way.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{ByteRing, Consumer, SharedObject};
    /// use std::time::Duration;
    ///
    /// let mut tx = ByteRing::create_memorybuf(16, 4)?; // 64 bytes of slots in all
    /// let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
    /// let reader = std::thread::spawn(move || {
    ///     let mut message = Vec::new();
    ///     rx.read_blocking(&mut message).map(|()| message)
    /// });
    /// let big = vec![7u8; 1000]; // longer than the whole ring
    /// tx.write_partial(&big, Duration::from_secs(10))?;
    /// assert_eq!(reader.join().unwrap()?, big);
    /// # Ok(()) }
    /// ```
    pub fn write_partial(&mut self, data: &[u8], timeout: Duration) -> Result<(), RingError> {
        self.end.check_peer_left()?;
        let deadline = Instant::now().checked_add(timeout);
        // At least one fragment: an empty message is one empty slot.
        let slot = self.slot;
        let fragments = |rest: &[u8]| rest.len().div_ceil(slot).max(1) as u64;
        let mut free = self.wait_room(deadline, fragments(data))?;
        let mut rest = data;
        let mut begins = true;
        loop {
            let wanted = fragments(rest);
            let now = free.min(wanted);
            let bytes = usize::try_from(now).map_or(rest.len(), |n| n.saturating_mul(slot).min(rest.len()));
            let (taken, left) = rest.split_at(bytes);
            self.put_fragments(taken, now, begins, now == wanted);
            if now == wanted {
                return Ok(());
            }
            (rest, begins) = (left, false);
            // Our own message is under way (`last_open`): wait for room
            // without voiding it.
            free = loop {
                let free = self.free(fragments(rest))?;
                if free > 0 {
                    break free;
                }
                self.end.wait_for(deadline, |end| end.free(1).map(|n| n > 0))?;
            };
        }
    }

    /// Copies `bytes` into the next `fragments` slots (the caller checked
    /// they are free): the first marked as the start of a message if the
    /// batch `begins` one, the others CONT; each but the last MORE, and the
    /// last too unless it `ends` the message. Publishes them with one
    /// store and wakes a sleeping consumer.
    /// Stores `message` (at most the slot size) whole into the next slot
    /// (the caller checked it is free), publishes it and wakes a sleeping
    /// consumer: the one-slot form of
    /// [`put_fragments`](Self::put_fragments), with no chunking loop and
    /// no offset, small enough to be inlined into `write` (as a call of
    /// its own, the general form cost 167 instructions a message under
    /// callgrind).
    #[expect(clippy::inline_always, reason = "part of an always-inlined one-message call (write)")]
    #[inline(always)]
    fn put_whole(&mut self, message: &[u8]) {
        let (ring, cursor) = self.end.ring_and_cursor();
        fragment::put(ring.next_free_slot(cursor), message, true, true);
        ring.publish(cursor, 1);
        self.last_open = Some(false);
        self.end.notify_peer();
    }

    fn put_fragments(&mut self, bytes: &[u8], fragments: u64, begins: bool, ends: bool) {
        let slot = self.slot;
        let (ring, cursor) = self.end.ring_and_cursor();
        let mut chunks = bytes.chunks(slot);
        for i in 0..fragments {
            let chunk = chunks.next().unwrap_or_default();
            fragment::put(ring.free_slot(cursor, i), chunk, begins && i == 0, ends && i + 1 == fragments);
        }
        ring.publish(cursor, fragments);
        self.last_open = Some(!ends);
        self.end.notify_peer();
    }

    /// Encodes `value` with postcard and writes it as one message (see
    /// [`write`](ByteRing::write)); the consumer decodes it with
    /// [`read_serde`](ByteRing::read_serde). The encoding buffer is kept
    /// for the next call.
    ///
    /// The serde methods need the `serde` feature, and your own types
    /// serde's derive, in your Cargo.toml:
    ///
    /// ```toml
    /// [dependencies]
    /// shm-runtime = { version = "0.1", features = ["serde"] } # or path = ".../shm-runtime"
    /// serde = { version = "1", features = ["derive"] }
    /// ```
    ///
    /// and `#[derive(serde::Serialize, serde::Deserialize)]` on the type.
    /// Both sides must use the same definition: postcard writes the values
    /// in order, without field names or types.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{ByteRing, Consumer, SendError, SharedObject};
    ///
    /// let mut tx = ByteRing::create_memorybuf(64, 4)?; // 64-byte slots
    /// let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
    /// tx.write_serde(&(7u32, "pose", [1.5f64, -2.0]))?;
    /// let (seq, name, position): (u32, String, [f64; 2]) = rx.read_serde()?.expect("one message");
    /// assert_eq!((seq, name.as_str(), position), (7, "pose", [1.5, -2.0]));
    ///
    /// // Encoded, larger than a slot: split over slots, read back whole.
    /// tx.write_serde(&vec![7u8; 100])?;
    /// assert_eq!(rx.read_serde::<Vec<u8>>()?, Some(vec![7u8; 100]));
    /// // Larger than the whole ring: no room for it now, nothing written.
    /// assert!(matches!(tx.write_serde(&vec![0u8; 1000]), Err(SendError::Full)));
    /// # Ok(()) }
    /// ```
    ///
    /// # Postcard's limits
    ///
    /// - **Size**: a value whose encoding is longer than a slot is split
    ///   over as many slots as it needs (as
    ///   [`write_partial`](ByteRing::write_partial) does) and read back
    ///   whole. `write_serde` does not wait: it writes only if the ring has
    ///   room for every slot now, else [`SendError::Full`];
    ///   [`write_serde_timeout`](ByteRing::write_serde_timeout) and
    ///   [`write_serde_blocking`](ByteRing::write_serde_blocking) stream it
    ///   through as slots free up, so it may be longer than the ring.
    /// - **Not self-describing**: postcard has no `deserialize_any`, so
    ///   types that need it cannot be sent: untagged enums
    ///   (`#[serde(untagged)]`), internally or adjacently tagged enums
    ///   (`#[serde(tag = "...")]`), `#[serde(flatten)]`,
    ///   `serde_json::Value`. They fail to encode ([`SendError::Encode`])
    ///   or to decode ([`RingError::Decode`]). A field left out by
    ///   `#[serde(skip_serializing_if = "...")]` shifts the fields after
    ///   it, so the message decodes wrongly or not at all.
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub fn write_serde<V: serde::Serialize + ?Sized>(&mut self, value: &V) -> Result<(), SendError> {
        let encoded = self.encode(value).map_err(|reason| SendError::Encode { reason })?;
        let written = if encoded.len() <= self.slot {
            self.write(&encoded)
        } else {
            // Every fragment's slot free now, or nothing written.
            let fragments = encoded.len().div_ceil(self.slot) as u64;
            match self.room(fragments) {
                Ok(free) if free >= fragments && !self.end.peer_left() => {
                    self.write_partial(&encoded, Duration::ZERO).map_err(|_| SendError::Full)
                }
                _ => Err(self.end.send_refused()),
            }
        };
        self.scratch = encoded;
        written
    }

    /// Encodes `value` with postcard and writes it, waiting as long as it
    /// takes for room (or until the consumer dies or lets go). Cargo.toml
    /// and postcard's limits: see [`write_serde`](ByteRing::write_serde).
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub fn write_serde_blocking<V: serde::Serialize + ?Sized>(&mut self, value: &V) -> Result<(), RingError> {
        self.write_serde_timeout(value, Duration::MAX)
    }

    /// Encodes `value` with postcard and writes it, waiting up to
    /// `timeout` for a free slot. Cargo.toml and postcard's limits: see
    /// [`write_serde`](ByteRing::write_serde).
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub fn write_serde_timeout<V: serde::Serialize + ?Sized>(
        &mut self,
        value: &V,
        timeout: Duration,
    ) -> Result<(), RingError> {
        let encoded = self.encode(value).map_err(|reason| RingError::Encode { name: self.name().clone(), reason })?;
        // One slot or many, streamed as slots free up.
        let written = self.write_partial(&encoded, timeout);
        self.scratch = encoded;
        written
    }

    /// `value` encoded with postcard, in the scratch buffer (taken; the
    /// caller puts it back).
    #[cfg(feature = "serde")]
    fn encode<V: serde::Serialize + ?Sized>(&mut self, value: &V) -> Result<Vec<u8>, String> {
        let mut scratch = core::mem::take(&mut self.scratch);
        scratch.clear();
        postcard::to_extend(value, scratch).map_err(|e| e.to_string())
    }
}

impl ByteRing<Consumer> {
    /// Whether a slot is ready to read now (a message, or a fragment of
    /// one).
    pub fn can_read(&mut self) -> bool {
        self.end.corrupt.is_none() && self.end.available(1).is_ok_and(|n| n > 0)
    }

    /// Longest message this end accepts; a longer one (possible only with
    /// `write_partial`) is skipped and reported as [`RingError::TooLarge`].
    /// No limit by default: a producer makes this end allocate as many
    /// bytes as it sends in one message.
    pub fn set_max_message_len(&mut self, max: usize) {
        self.max_message = max;
    }

    /// Puts the next message in `message` (replacing what it held) and
    /// returns `true`; `false` if no whole message is ready. Fragments of
    /// a message still being written are taken from the ring (so the
    /// producer can go on) and kept until its last one arrives. A message
    /// is returned whole or not at all: one whose producer died or gave up
    /// part-way is dropped when the next message begins, and the rest of
    /// one whose start a consumer before this one took is skipped.
    ///
    /// Errors: [`RingError::Corrupt`] (sticky) for a slot header no
    /// producer could write, [`RingError::TooLarge`] for a message over
    /// [`set_max_message_len`](ByteRing::set_max_message_len) (skipped).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{ByteRing, Consumer, SharedObject};
    ///
    /// let mut tx = ByteRing::create_memorybuf(32, 4)?;
    /// let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
    /// let mut message = Vec::with_capacity(32); // reused: no allocation per message
    /// assert!(!rx.read(&mut message)?);
    /// tx.write(b"hello")?;
    /// assert!(rx.read(&mut message)?);
    /// assert_eq!(message, b"hello");
    /// # Ok(()) }
    /// ```
    // Always inlined, as `MemoryInterface::write` is (see there).
    #[expect(clippy::inline_always, reason = "as MemoryInterface::write (see there)")]
    #[inline(always)]
    pub fn read(&mut self, message: &mut Vec<u8>) -> Result<bool, RingError> {
        // The common case, inlined: no sticky corruption, a slot ready by
        // the cached write position (one compare), and in it a whole
        // message within the slot size and our limit (one header compare,
        // `Reassembly::take_whole`): one copy, one release. Everything
        // else (an empty ring's refresh, fragments, ABORT, a header over
        // the limit or corrupt) goes the general way, which loads the
        // header again and checks it in full.
        if self.end.corrupt.is_none() && self.end.has_ready() {
            let limit = self.slot.min(self.max_message);
            let (ring, cursor) = self.end.ring_and_cursor();
            if self.assembly.take_whole(ring.next_ready_slot(cursor), limit, message) {
                ring.release(cursor, 1);
                self.end.notify_peer();
                return Ok(true);
            }
        }
        self.read_fragments(message)
    }

    /// [`read`](Self::read) slot by slot, out of line: any number of
    /// fragments, ABORT and orphan slots, the limit and the checks.
    #[inline(never)]
    fn read_fragments(&mut self, message: &mut Vec<u8>) -> Result<bool, RingError> {
        self.end.check()?;
        let mut taken = 0;
        let outcome = self.take(message, &mut taken);
        if taken > 0 {
            let (ring, cursor) = self.end.ring_and_cursor();
            ring.release(cursor, taken);
            self.end.notify_peer();
        }
        outcome
    }

    /// Takes ready slots until a message is whole or none is left,
    /// counting them in `taken` (released by the caller).
    fn take(&mut self, message: &mut Vec<u8>, taken: &mut u64) -> Result<bool, RingError> {
        let mut ready = 0;
        loop {
            if *taken == ready {
                // Slots taken are released only by the caller, so the
                // count includes them.
                ready = self.end.available(*taken + 1).map_err(|c| self.end.fail(c))?;
                if ready <= *taken {
                    return Ok(false);
                }
            }
            let (ring, cursor) = self.end.ring_and_cursor();
            let words = ring.ready_slot(cursor, *taken);
            let got = self.assembly.take(words, self.slot, self.max_message, message);
            let got = got.map_err(|c| self.end.fail(c))?;
            *taken += 1;
            match got {
                Taken::Nothing => {}
                Taken::Message => return Ok(true),
                Taken::TooLarge(len) => return Err(self.too_large(len)),
            }
        }
    }

    fn too_large(&self, len: usize) -> RingError {
        RingError::TooLarge { name: self.name().clone(), len, max: self.max_message }
    }

    /// Puts the next message in `message`, waiting up to `timeout` for it
    /// (a timeout too long for the clock is no deadline).
    pub fn read_timeout(&mut self, message: &mut Vec<u8>, timeout: Duration) -> Result<(), RingError> {
        self.read_until(message, Instant::now().checked_add(timeout))
    }

    /// Puts the next message in `message`, waiting as long as it takes (or
    /// until the producer dies or lets go, after everything it wrote was
    /// read).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{ByteRing, Consumer, RingError, SharedObject};
    ///
    /// let mut tx = ByteRing::create_memorybuf(32, 4)?;
    /// let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
    /// tx.write(b"last words")?;
    /// drop(tx);
    /// let mut message = Vec::new();
    /// rx.read_blocking(&mut message)?;
    /// assert_eq!(message, b"last words");
    /// assert!(matches!(rx.read_blocking(&mut message), Err(RingError::Closed { .. })));
    /// # Ok(()) }
    /// ```
    pub fn read_blocking(&mut self, message: &mut Vec<u8>) -> Result<(), RingError> {
        self.read_until(message, None)
    }

    fn read_until(&mut self, message: &mut Vec<u8>, deadline: Option<Instant>) -> Result<(), RingError> {
        while !self.read(message)? {
            let waited = self.end.wait_for(deadline, |end| end.available(1).map(|n| n > 0));
            if matches!(waited, Err(RingError::PeerDead { .. } | RingError::Closed { .. })) {
                // Reported only once every slot the producer published was
                // taken: its unfinished message can never be finished now
                // (a next producer begins a new one).
                self.assembly.void();
            }
            waited?;
        }
        Ok(())
    }

    /// Drops everything unread: the slots published so far and the part of
    /// a message put together from fragments; returns how many slots. The
    /// rest of a message cut this way is skipped when it arrives (its
    /// slots continue a message this end no longer holds).
    pub fn reset_read(&mut self) -> Result<u64, RingError> {
        self.end.check()?;
        let ready = self.end.available(u64::MAX).map_err(|c| self.end.fail(c))?;
        let (ring, cursor) = self.end.ring_and_cursor();
        ring.release(cursor, ready);
        self.assembly.void();
        self.end.notify_peer();
        Ok(ready)
    }

    /// Takes the next message and decodes it with postcard as a `V`;
    /// `Ok(None)` if no whole message is ready. A message that does not
    /// decode as a `V` is consumed and reported as [`RingError::Decode`].
    /// Cargo.toml, an example and postcard's limits (no untagged enums,
    /// nothing that needs `deserialize_any`): see
    /// [`write_serde`](ByteRing::write_serde).
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub fn read_serde<V: serde::de::DeserializeOwned>(&mut self) -> Result<Option<V>, RingError> {
        let mut message = core::mem::take(&mut self.scratch);
        let result = match self.read(&mut message) {
            Ok(true) => self.decode(&message).map(Some),
            Ok(false) => Ok(None),
            Err(e) => Err(e),
        };
        self.scratch = message;
        result
    }

    /// Takes the next message, waiting up to `timeout` for it, and decodes
    /// it with postcard as a `V` (see [`read_serde`](ByteRing::read_serde)).
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub fn read_serde_timeout<V: serde::de::DeserializeOwned>(&mut self, timeout: Duration) -> Result<V, RingError> {
        let mut message = core::mem::take(&mut self.scratch);
        let result = self.read_timeout(&mut message, timeout).and_then(|()| self.decode(&message));
        self.scratch = message;
        result
    }

    /// Takes the next message, waiting as long as it takes (or until the
    /// producer dies or lets go, after everything it wrote was read), and
    /// decodes it with postcard as a `V`.
    #[cfg(feature = "serde")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
    pub fn read_serde_blocking<V: serde::de::DeserializeOwned>(&mut self) -> Result<V, RingError> {
        let mut message = core::mem::take(&mut self.scratch);
        let result = self.read_blocking(&mut message).and_then(|()| self.decode(&message));
        self.scratch = message;
        result
    }

    #[cfg(feature = "serde")]
    fn decode<V: serde::de::DeserializeOwned>(&self, message: &[u8]) -> Result<V, RingError> {
        postcard::from_bytes(message).map_err(|e| RingError::Decode {
            name: self.name().clone(),
            type_name: core::any::type_name::<V>(),
            len: message.len(),
            reason: e.to_string(),
        })
    }
}

impl<R: Role> fmt::Debug for ByteRing<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteRing")
            .field("role", &R::NAME)
            .field("handle", &self.handle().to_string())
            .field("capacity", &self.end.shape.capacity)
            .field("slot_size", &self.slot)
            .field("cursor", &self.end.cursor)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryInterface;
    use crate::protocol::fragment::{ABORT, CONT, MORE};
    use core::sync::atomic::{AtomicU64, Ordering};

    type Tx = ByteRing<Producer>;
    type Rx = ByteRing<Consumer>;

    fn pair(slot: usize, n: usize) -> (Tx, Rx) {
        let tx = Tx::create_memorybuf(slot, n).unwrap();
        let rx = Rx::load_memorybuf(&tx.handle()).unwrap();
        (tx, rx)
    }

    fn read(rx: &mut Rx) -> Option<Vec<u8>> {
        let mut message = vec![0xAA; 3];
        rx.read(&mut message).unwrap().then_some(message)
    }

    fn header_word(rx: &Rx, slot_index: u64) -> &AtomicU64 {
        let slot_words = rx.end.shape.slot_words;
        &rx.end.segment().payload().words()[40 + usize::try_from(slot_index).unwrap() * slot_words]
    }

    #[test]
    fn reads_return_exactly_what_was_written() {
        let (mut tx, mut rx) = pair(13, 4);
        assert_eq!((rx.slot_size(), rx.capacity()), (13, 4), "the opener learns the creator's shape");
        assert_eq!(read(&mut rx), None, "empty gives nothing");
        // A long message, then shorter ones into the same slots: no old tail.
        for len in [13, 0, 1, 7, 8, 9, 12, 13, 2] {
            let message: Vec<u8> = (0..len).map(|i| u8::try_from(i).unwrap() ^ 0x5A).collect();
            tx.write(&message).unwrap();
            assert_eq!(read(&mut rx).as_deref(), Some(&message[..]), "length {len}");
        }
    }

    #[test]
    fn too_large_and_full_write_nothing() {
        let (mut tx, mut rx) = pair(8, 2);
        assert_eq!(tx.write(&[1; 9]), Err(SendError::TooLarge { len: 9, slot: 8 }));
        let err = tx.write_timeout(&[1; 9], Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, RingError::TooLarge { len: 9, max: 8, .. }), "{err}");
        assert!(rx.is_empty(), "nothing was written");
        tx.write(b"a").unwrap();
        tx.write(b"b").unwrap();
        assert!(!tx.can_write());
        assert_eq!(tx.write(b"c"), Err(SendError::Full));
        assert!(SendError::Full.to_string().contains("nothing was written"));
        assert_eq!((read(&mut rx), read(&mut rx), read(&mut rx)), (Some(b"a".to_vec()), Some(b"b".to_vec()), None));
    }

    #[test]
    fn write_partial_fits_in_one_batch_or_streams_through_a_smaller_ring() {
        let (mut tx, mut rx) = pair(8, 4);
        tx.write_partial(b"twenty bytes of text", Duration::ZERO).unwrap();
        assert_eq!(rx.len(), 3, "three fragments");
        tx.write_partial(b"", Duration::ZERO).unwrap();
        assert_eq!(read(&mut rx).unwrap(), b"twenty bytes of text");
        assert_eq!(read(&mut rx).unwrap(), b"", "an empty message is one empty slot");
        // 1000 bytes through 4 slots of 8: the consumer must drain while
        // the producer streams.
        let big: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::thread::scope(|s| {
            s.spawn(|| tx.write_partial(&big, Duration::from_secs(10)).unwrap());
            let mut message = Vec::new();
            rx.read_timeout(&mut message, Duration::from_secs(10)).unwrap();
            assert_eq!(message, big);
        });
    }

    #[test]
    fn an_unfinished_partial_message_is_voided_not_delivered() {
        let (mut tx, mut rx) = pair(8, 2);
        let err = tx.write_partial(&[7; 40], Duration::from_millis(20)).unwrap_err();
        assert!(matches!(err, RingError::Timeout { .. }), "{err}");
        assert_eq!(read(&mut rx), None, "two fragments taken, the message is not whole");
        tx.write(b"next").unwrap();
        assert_eq!(read(&mut rx).unwrap(), b"next", "the fragments were dropped, not glued on");
        assert_eq!(read(&mut rx), None);
    }

    #[test]
    fn one_slot_ring_voids_then_writes() {
        let (mut tx, mut rx) = pair(4, 1);
        assert!(tx.write_partial(b"abcdefgh", Duration::from_millis(10)).is_err());
        assert_eq!(tx.write(b"x"), Err(SendError::Full), "no room even for the void mark");
        assert_eq!(read(&mut rx), None);
        assert_eq!(tx.write(b"x"), Err(SendError::Full), "the void mark took the only slot");
        assert_eq!(read(&mut rx), None);
        tx.write(b"x").unwrap();
        assert_eq!(read(&mut rx).unwrap(), b"x");
    }

    #[test]
    fn reset_read_in_the_middle_of_a_message_skips_its_rest() {
        let (mut tx, mut rx) = pair(8, 4);
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                tx.write_partial(&[1; 48], Duration::from_secs(10)).unwrap();
                tx.write(b"after").unwrap();
            });
            let start = Instant::now();
            while rx.len() < 4 {
                assert!(start.elapsed() < Duration::from_secs(10), "the writer never filled the ring");
                std::thread::yield_now();
            }
            assert_eq!(rx.reset_read().unwrap(), 4);
            let mut message = Vec::new();
            rx.read_timeout(&mut message, Duration::from_secs(10)).unwrap();
            assert_eq!(message, b"after", "the dropped message's last two fragments were skipped");
            writer.join().unwrap();
        });
    }

    #[test]
    fn e4_bad_headers_make_the_end_corrupt_for_good() {
        let (mut tx, mut rx) = pair(8, 4);
        tx.write(b"ok").unwrap();
        tx.write(b"bad").unwrap();
        header_word(&rx, 1).store(9, Ordering::Relaxed);
        assert_eq!(read(&mut rx).unwrap(), b"ok");
        let err = rx.read(&mut Vec::new()).unwrap_err();
        assert!(matches!(err, RingError::Corrupt { what: "message header", found: 9, .. }), "{err}");
        header_word(&rx, 1).store(3, Ordering::Relaxed);
        assert!(rx.read(&mut Vec::new()).is_err(), "sticky");
        assert!(rx.error().is_some());

        // ABORT with anything else (CONT included), lengths over the slot
        // with any flags (`1 << 60`: the top bit of the length field).
        let junk = [
            ABORT | 1,
            ABORT | MORE,
            ABORT | CONT,
            ABORT | CONT | MORE,
            CONT | 9,
            MORE | CONT | 9,
            MORE | 9,
            1 << 60 | 2,
            u64::MAX,
        ];
        for junk in junk {
            for open in [false, true] {
                let (mut tx, mut rx) = pair(8, 3);
                if open {
                    // The consumer holds an unfinished message when the
                    // bad header comes.
                    publish(&mut tx, &[(b"12345678", true, false)]);
                    assert_eq!(read(&mut rx), None);
                }
                tx.write(b"m").unwrap();
                header_word(&rx, u64::from(open)).store(junk, Ordering::Relaxed);
                let err = rx.read(&mut Vec::new()).unwrap_err();
                assert!(
                    matches!(err, RingError::Corrupt { what: "message header", found, .. } if found == junk),
                    "{err}"
                );
                assert!(rx.read(&mut Vec::new()).is_err(), "{junk:#x}: sticky");
            }
        }
    }

    /// Publishes slots whose headers the test chooses: `(bytes, begins,
    /// ends)` each, with one store.
    fn publish(tx: &mut Tx, fragments: &[(&[u8], bool, bool)]) {
        let (ring, cursor) = tx.end.ring_and_cursor();
        for (i, (bytes, begins, ends)) in (0..).zip(fragments) {
            fragment::put(ring.free_slot(cursor, i), bytes, *begins, *ends);
        }
        ring.publish(cursor, fragments.len() as u64);
    }

    /// H7, the consumer's start rule alone (no ABORT slot): a slot that
    /// begins a message drops the unfinished one, whether the consumer
    /// took its fragments before or takes them in the same read.
    #[test]
    fn h7_a_start_drops_an_unfinished_message() {
        let (mut tx, mut rx) = pair(8, 8);
        publish(&mut tx, &[(b"aaaaaaaa", true, false), (b"bbbbbbbb", false, false)]);
        assert_eq!(read(&mut rx), None, "two fragments of three");
        assert!(rx.assembly.is_open());
        publish(&mut tx, &[(b"hello", true, true)]);
        assert_eq!(read(&mut rx).unwrap(), b"hello", "not glued to the unfinished message");
        assert!(!rx.assembly.is_open());
        // All in one read, and a split message after it.
        publish(&mut tx, &[(b"cccccccc", true, false), (b"dd", true, false), (b"ee", false, true), (b"x", true, true)]);
        assert_eq!(read(&mut rx).unwrap(), b"ddee");
        assert_eq!(read(&mut rx).unwrap(), b"x");
        assert_eq!(read(&mut rx), None);
    }

    /// H7 (consumer side) in one process: consumer 1 takes the first three
    /// fragments of a five-fragment message and lets go; consumer 2 starts
    /// at the fourth. It skips the rest of that message (never returning
    /// a continuation as a message) and gets the next one whole.
    #[test]
    fn h7_a_new_consumer_skips_the_rest_of_a_message_begun_before_it() {
        let mut tx = Tx::create_memorybuf(8, 3).unwrap();
        let handle = tx.handle();
        let mut rx1 = Rx::load_memorybuf(&handle).unwrap();
        let long: Vec<u8> = (0..40).collect();
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                // Between rx1's drop and rx2's attach the ring has no
                // consumer, and a waiting write says `Closed`: the writer
                // tries again until rx2 is there (the long message may
                // end so, part-way, which rx2 must skip all the same).
                match tx.write_partial(&long, Duration::from_secs(10)) {
                    Ok(()) | Err(RingError::Closed { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
                let start = Instant::now();
                loop {
                    match tx.write_timeout(b"after", Duration::from_secs(10)) {
                        Ok(()) => break,
                        Err(RingError::Closed { .. }) if start.elapsed() < Duration::from_secs(10) => {
                            std::thread::yield_now();
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            });
            let start = Instant::now();
            while rx1.len() < 3 {
                assert!(start.elapsed() < Duration::from_secs(10), "the writer never filled the ring");
                std::thread::yield_now();
            }
            assert_eq!(read(&mut rx1), None, "three fragments of five");
            drop(rx1);
            let mut rx2 = Rx::load_memorybuf(&handle).unwrap();
            let mut message = Vec::new();
            rx2.read_timeout(&mut message, Duration::from_secs(10)).unwrap();
            assert_eq!(message, b"after", "fragments 3 and 4 were skipped");
            assert!(!rx2.assembly.is_open());
            writer.join().unwrap();
        });
    }

    /// H7 (producer side) in one process, the attack's case: producer 1
    /// publishes 64 bytes of a longer message and gives up; producer 2
    /// attaches and writes "hello". The consumer returns "hello", never a
    /// 69-byte splice, whether it took the 64 bytes before producer 2
    /// came (and then learnt producer 1 was gone), took them and is still
    /// waiting, or takes them after producer 2 wrote.
    #[test]
    fn h7_a_new_producer_voids_the_message_its_predecessor_left_open() {
        for case in ["taken, producer gone", "taken", "not taken"] {
            let mut rx = Rx::create_memorybuf(16, 4).unwrap();
            let mut tx1 = Tx::load_memorybuf(&rx.handle()).unwrap();
            let err = tx1.write_partial(&[7; 100], Duration::from_millis(10)).unwrap_err();
            assert!(matches!(err, RingError::Timeout { .. }), "{case}: {err}");
            assert_eq!(rx.len(), 4, "{case}: 64 bytes published");
            if case != "not taken" {
                assert_eq!(read(&mut rx), None, "{case}");
                assert!(rx.assembly.is_open(), "{case}");
            }
            drop(tx1);
            if case == "taken, producer gone" {
                let gone = rx.read_timeout(&mut Vec::new(), Duration::from_secs(1)).unwrap_err();
                assert!(matches!(gone, RingError::Closed { .. }), "{case}: {gone}");
                assert!(!rx.assembly.is_open(), "{case}: the unfinished message was dropped");
            }
            let mut tx2 = Tx::load_memorybuf(&rx.handle()).unwrap();
            if case == "not taken" {
                assert_eq!(tx2.write(b"hello"), Err(SendError::Full), "no room for the ABORT slot");
                assert_eq!(read(&mut rx), None, "{case}");
            }
            tx2.write(b"hello").unwrap();
            assert_eq!(header_word(&rx, 0).load(Ordering::Relaxed), ABORT, "{case}: producer 2 voided the message");
            assert_eq!(header_word(&rx, 1).load(Ordering::Relaxed), 5, "{case}: then began its own");
            assert_eq!(read(&mut rx).unwrap(), b"hello", "{case}");
            assert_eq!(read(&mut rx), None, "{case}");
            assert!(!rx.assembly.is_open(), "{case}");
            tx2.write(b"again").unwrap();
            assert_eq!(header_word(&rx, 2).load(Ordering::Relaxed), 5, "{case}: no second ABORT");
            assert_eq!(read(&mut rx).unwrap(), b"again", "{case}");
        }
    }

    /// A producer that attaches to a ring whose last message was whole
    /// (or that was never written) writes no ABORT slot.
    #[test]
    fn a_new_producer_after_a_whole_message_writes_no_abort() {
        let mut rx = Rx::create_memorybuf(8, 4).unwrap();
        let mut tx = Tx::load_memorybuf(&rx.handle()).unwrap();
        tx.write_partial(&[1; 20], Duration::ZERO).unwrap();
        drop(tx);
        let mut tx = Tx::load_memorybuf(&rx.handle()).unwrap();
        tx.write(b"x").unwrap();
        assert_eq!(rx.len(), 4, "three fragments and the new message, no ABORT");
        assert_eq!(read(&mut rx).unwrap(), [1; 20]);
        assert_eq!(read(&mut rx).unwrap(), b"x");
    }

    /// Ends of the format before CONT refuse a ring of this one, and the
    /// other way round: the fingerprint changed with it.
    #[test]
    fn ends_of_the_old_slot_format_are_refused() {
        let v1 = crate::format::fingerprint::of_str("shm::ByteRing(length-prefixed slots v1)");
        assert_ne!(v1, LAYOUT.fingerprint);
        let tx = Tx::create_memorybuf(8, 2).unwrap();
        let h = tx.handle();
        // An old producer's handle, given to a new consumer.
        let old = Handle::new(h.name().clone(), ObjectKind::ByteRing, v1, h.payload_size(), h.nonce());
        let err = Rx::load_memorybuf(&old).unwrap_err();
        assert!(matches!(err, OpenError::LayoutMismatch { found, .. } if found == v1), "{err}");
        // An old consumer, given this ring's handle.
        let old_layout = Layout { fingerprint: v1, ..LAYOUT };
        let err = End::<Consumer>::open(&h, ObjectKind::ByteRing, old_layout, &OpenOptions::new(), |_, _| Ok(()))
            .err()
            .expect("refused");
        assert!(matches!(err, OpenError::LayoutMismatch { expected, .. } if expected == v1), "{err}");
    }

    #[test]
    fn a_message_over_the_consumers_limit_is_skipped_and_reported() {
        let (mut tx, mut rx) = pair(8, 8);
        rx.set_max_message_len(10);
        tx.write_partial(&[1; 20], Duration::ZERO).unwrap();
        tx.write(b"small").unwrap();
        let err = rx.read(&mut Vec::new()).unwrap_err();
        assert!(matches!(err, RingError::TooLarge { len: 16, max: 10, .. }), "{err}");
        assert_eq!(read(&mut rx).unwrap(), b"small", "the rest of the long one was skipped");
        rx.set_max_message_len(4);
        tx.write(b"12345").unwrap();
        assert!(matches!(rx.read(&mut Vec::new()), Err(RingError::TooLarge { len: 5, max: 4, .. })));
        assert!(rx.error().is_none(), "a refused message is not corruption");
    }

    #[test]
    fn opens_check_kind_and_shape() {
        let (tx, _rx) = pair(8, 2);
        let err = MemoryInterface::<u64, Consumer>::load_memorybuf(&tx.handle()).unwrap_err();
        assert!(matches!(err, OpenError::KindMismatch { .. }), "{err}");
        let typed = MemoryInterface::<u64>::create_memorybuf(2).unwrap();
        let err = Rx::load_memorybuf(&typed.handle()).unwrap_err();
        assert!(matches!(err, OpenError::KindMismatch { .. }), "{err}");
        assert!(matches!(Tx::create_memorybuf(0, 2), Err(CreateError::InvalidCapacity { .. })));
        assert!(matches!(Tx::create_memorybuf(8, 0), Err(CreateError::InvalidCapacity { .. })));
        assert!(matches!(Tx::create_memorybuf(usize::MAX / 2, 4), Err(CreateError::InvalidCapacity { .. })));
        assert!(matches!(Tx::create_memorybuf(1 << 40, 1 << 30), Err(CreateError::SizeOverflow { .. })));
        // A peer changed the slot size word.
        let tx = Tx::create_memorybuf(16, 2).unwrap();
        tx.end.segment().payload().words()[2].store(24, Ordering::Relaxed);
        let err = Rx::load_memorybuf(&tx.handle()).unwrap_err();
        assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_values_round_trip_and_bad_ones_are_reported() {
        let (mut tx, mut rx) = pair(64, 4);
        let value = (7u32, String::from("pose"), vec![1.5f64, -2.0]);
        tx.write_serde(&value).unwrap();
        assert_eq!(rx.read_serde::<(u32, String, Vec<f64>)>().unwrap(), Some(value));
        assert_eq!(rx.read_serde::<u32>().unwrap(), None);
        // Larger than a slot: split, read back whole; larger than the ring
        // has room for now: Full, nothing written.
        tx.write_serde(&vec![5u8; 100]).unwrap();
        assert_eq!(rx.read_serde::<Vec<u8>>().unwrap(), Some(vec![5u8; 100]));
        assert!(matches!(tx.write_serde(&vec![0u8; 1000]), Err(SendError::Full)));
        assert_eq!(rx.read_serde::<Vec<u8>>().unwrap(), None, "nothing of it was written");
        // The waiting forms stream it through, longer than the ring.
        let long: Vec<u32> = (0..500).collect();
        std::thread::scope(|s| {
            s.spawn(|| tx.write_serde_blocking(&long).unwrap());
            assert_eq!(rx.read_serde_blocking::<Vec<u32>>().unwrap(), long);
        });
        tx.write(&[0xff; 3]).unwrap();
        let err = rx.read_serde::<String>().unwrap_err();
        assert!(matches!(&err, RingError::Decode { len: 3, type_name, .. } if type_name.contains("String")), "{err}");
        tx.write_serde_timeout("after", Duration::from_secs(1)).unwrap();
        assert_eq!(rx.read_serde_timeout::<String>(Duration::from_secs(1)).unwrap(), "after");
    }
}

/// The `async` feature: waiting for a message or a free slot in a task.
#[cfg(feature = "async")]
mod asynchronous {
    use super::{ByteRing, Consumer, Producer};
    use crate::segment::error::RingError;
    use crate::segment::waiter::Registration;
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll};

    impl ByteRing<Consumer> {
        fn poll_read(
            &mut self,
            cx: &mut Context<'_>,
            registration: &mut Registration,
            message: &mut Vec<u8>,
        ) -> Poll<Result<(), RingError>> {
            loop {
                match self.read(message) {
                    Ok(true) => {
                        registration.disarm();
                        return Poll::Ready(Ok(()));
                    }
                    Ok(false) => {}
                    Err(e) => {
                        registration.disarm();
                        return Poll::Ready(Err(e));
                    }
                }
                match self.end.poll_wait(cx, registration, |end| end.available(1).map(|n| n > 0)) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => {
                        if matches!(e, RingError::PeerDead { .. } | RingError::Closed { .. }) {
                            // As `read_blocking`: the producer's unfinished
                            // message can never be finished now.
                            self.assembly.void();
                        }
                        return Poll::Ready(Err(e));
                    }
                }
            }
        }

        /// Puts the next message in `message`, waiting in the task as long
        /// as it takes: the async form of
        /// [`read_blocking`](Self::read_blocking), for any runtime.
        ///
        /// Cancellation-safe as far as the ring goes: slots are taken only
        /// in polls, and a message that fits one slot is taken and returned
        /// in the same poll. Of a message split over slots
        /// ([`write_partial`](ByteRing::write_partial)) whose rest has not
        /// arrived yet, the part taken stays in `message`: call again with
        /// the same buffer to finish it (as with a `read` that returned
        /// `false`).
        ///
        /// ```
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// use shm_runtime::{ByteRing, Consumer, SharedObject};
        /// let mut tx = ByteRing::create_memorybuf(64, 4)?;
        /// let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
        /// let producer = std::thread::spawn(move || tx.write_blocking(b"hello").map(|()| tx));
        /// let mut message = Vec::new();
        /// smol::block_on(rx.read_async(&mut message))?;
        /// assert_eq!(message, b"hello");
        /// # drop(producer.join().unwrap()?);
        /// # Ok(()) }
        /// ```
        #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
        pub fn read_async<'a>(
            &'a mut self,
            message: &'a mut Vec<u8>,
        ) -> impl Future<Output = Result<(), RingError>> + Send + 'a {
            let mut registration = Registration::default();
            core::future::poll_fn(move |cx| self.poll_read(cx, &mut registration, message))
        }

        /// The messages as a [`Stream`](futures_core::Stream) of vectors:
        /// each `Ok(message)`; the stream ends once the producer let go and
        /// everything it published was read, and yields an error (then
        /// ends) if the producer died or the ring is corrupt. A message over
        /// the length limit is an `Err` item, and the stream goes on.
        ///
        /// ```
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// use shm_runtime::{ByteRing, Consumer, SharedObject};
        /// let mut tx = ByteRing::create_memorybuf(64, 4)?;
        /// let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
        /// let producer = std::thread::spawn(move || {
        ///     tx.write_blocking(b"one")?;
        ///     tx.write_blocking(b"two") // dropping `tx` ends the stream
        /// });
        /// let mut messages = rx.stream();
        /// let all = smol::block_on(async {
        ///     let mut all = Vec::new();
        ///     while let Some(message) = smol::stream::StreamExt::next(&mut messages).await {
        ///         all.push(message?);
        ///     }
        ///     Ok::<_, shm_runtime::RingError>(all)
        /// })?;
        /// assert_eq!(all, [b"one".to_vec(), b"two".to_vec()]);
        /// # producer.join().unwrap()?;
        /// # Ok(()) }
        /// ```
        #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
        pub fn stream(&mut self) -> MessageStream<'_> {
            MessageStream { ring: Some(self), registration: Registration::default(), message: Vec::new() }
        }
    }

    impl ByteRing<Producer> {
        /// Writes `message` (at most the slot size) into the next slot,
        /// waiting in the task as long as it takes for a free one: the async
        /// form of [`write_blocking`](Self::write_blocking), for any
        /// runtime. [`RingError::Closed`] or [`RingError::PeerDead`] if the
        /// consumer let go or died while the ring was full.
        ///
        /// Cancellation-safe: the message is written only in the poll that
        /// completes, so a dropped future wrote nothing.
        ///
        /// ```
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// use shm_runtime::{ByteRing, Consumer, SharedObject};
        /// let mut tx = ByteRing::create_memorybuf(64, 4)?;
        /// let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
        /// smol::block_on(tx.write_async(b"hi"))?;
        /// let mut message = Vec::new();
        /// assert!(rx.read(&mut message)?);
        /// assert_eq!(message, b"hi");
        /// # Ok(()) }
        /// ```
        #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
        pub fn write_async<'a>(
            &'a mut self,
            message: &'a [u8],
        ) -> impl Future<Output = Result<(), RingError>> + Send + 'a {
            let mut registration = Registration::default();
            core::future::poll_fn(move |cx| {
                if message.len() > self.slot {
                    let name = self.end.name().clone();
                    return Poll::Ready(Err(RingError::TooLarge { name, len: message.len(), max: self.slot }));
                }
                loop {
                    match self.room(1) {
                        Ok(0) => {}
                        Ok(_) => {
                            registration.disarm();
                            self.put_whole(message);
                            return Poll::Ready(Ok(()));
                        }
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                    match self.end.poll_wait(cx, &mut registration, |end| end.free(1).map(|n| n > 0)) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    }
                }
            })
        }
    }

    /// The messages of a [`ByteRing`] consumer as a
    /// [`Stream`](futures_core::Stream): see [`ByteRing::stream`].
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    #[must_use = "streams do nothing unless polled"]
    pub struct MessageStream<'a> {
        /// `None` once the stream has ended.
        ring: Option<&'a mut ByteRing<Consumer>>,
        registration: Registration,
        /// The message being read (a part of a split one across polls).
        message: Vec<u8>,
    }

    impl futures_core::Stream for MessageStream<'_> {
        type Item = Result<Vec<u8>, RingError>;

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            let this = self.get_mut();
            let Some(ring) = this.ring.as_deref_mut() else { return Poll::Ready(None) };
            match ring.poll_read(cx, &mut this.registration, &mut this.message) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(core::mem::take(&mut this.message)))),
                Poll::Ready(Err(RingError::Closed { .. })) => {
                    this.ring = None;
                    Poll::Ready(None)
                }
                Poll::Ready(Err(e @ RingError::TooLarge { .. })) => Poll::Ready(Some(Err(e))),
                Poll::Ready(Err(e)) => {
                    this.ring = None;
                    Poll::Ready(Some(Err(e)))
                }
            }
        }
    }

    impl futures_core::FusedStream for MessageStream<'_> {
        fn is_terminated(&self) -> bool {
            self.ring.is_none()
        }
    }

    impl core::fmt::Debug for MessageStream<'_> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("MessageStream").field("ended", &self.ring.is_none()).finish_non_exhaustive()
        }
    }
}

#[cfg(feature = "async")]
pub use asynchronous::MessageStream;

/// Messages put together from parts and read in place, for bindings (the
/// Python package) that build a message from, or into, objects of their
/// own: no intermediate buffer on either side for a message that fits in
/// one slot; and waits for room or a message that take nothing.
mod in_place {
    use super::{ByteRing, Consumer, Producer, fragment};
    use crate::segment::error::{RingError, SendError};
    use core::mem::MaybeUninit;
    use std::time::{Duration, Instant};

    impl ByteRing<Producer> {
        /// Writes the concatenation of `parts` as one message into the next
        /// slot, without waiting, as [`write`](ByteRing::write) writes one
        /// slice: the same errors, and nothing written in any of them.
        ///
        /// ```
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// use shm_runtime::{ByteRing, Consumer, SharedObject};
        ///
        /// let mut tx = ByteRing::create_memorybuf(16, 4)?;
        /// let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
        /// tx.write_parts(&[b"head:", b"body", b"."])?;
        /// let mut message = Vec::new();
        /// assert!(rx.read(&mut message)?);
        /// assert_eq!(message, b"head:body.");
        /// assert!(tx.write_parts(&[&[0; 9], &[0; 8]]).is_err(), "17 bytes: too large");
        /// # Ok(()) }
        /// ```
        pub fn write_parts(&mut self, parts: &[&[u8]]) -> Result<(), SendError> {
            let len = parts.iter().fold(0usize, |sum, part| sum.saturating_add(part.len()));
            if len > self.slot {
                return Err(SendError::TooLarge { len, slot: self.slot });
            }
            if self.end.peer_left() || !self.can_write() {
                return Err(self.end.send_refused());
            }
            let (ring, cursor) = self.end.ring_and_cursor();
            let words = ring.free_slot(cursor, 0);
            // Relaxed: published by the Release store in `Ring::publish` below,
            // which pairs with the consumer's Acquire load in
            // `Ring::available` (as in `fragment::put`).
            words[0].store(fragment::header(len, true, true), crate::protocol::sync::Ordering::Relaxed);
            let body = &words[1..];
            let mut at = 0_usize;
            for part in parts {
                // A piece that starts inside a word first fills that word
                // (a load, merge and store); the rest then starts on a word,
                // where `store_range` copies whole 64-byte blocks with the
                // vector moves and only its last part word by word. Started
                // inside a word, `store_range` would copy the whole piece a
                // word at a time.
                let head = (at.next_multiple_of(8) - at).min(part.len());
                let (inside, aligned) = part.split_at(head);
                crate::protocol::copy::store_range(body, at, inside);
                crate::protocol::copy::store_range(body, at + head, aligned);
                at += part.len();
            }
            ring.publish(cursor, 1);
            self.last_open = Some(false);
            self.end.notify_peer();
            Ok(())
        }

        /// Waits up to `timeout` until a `write` of a message up to the slot
        /// size finds room, sleeping on the ring's futex word (the consumer's
        /// read wakes it); [`RingError::Timeout`] if none came, `Closed` or
        /// `PeerDead` if the consumer is gone. Writes nothing.
        pub fn wait_writable(&mut self, timeout: Duration) -> Result<(), RingError> {
            self.end.check_peer_left()?;
            self.wait_room(Instant::now().checked_add(timeout), 1).map(|_| ())
        }
    }

    impl ByteRing<Consumer> {
        /// Waits up to `timeout` until a slot is ready to read (a message or a
        /// fragment of one), sleeping on the ring's futex word (the producer's
        /// write wakes it); [`RingError::Timeout`] if none came, `Closed` or
        /// `PeerDead` once the producer is gone and every slot it published
        /// was taken. Takes nothing.
        pub fn wait_readable(&mut self, timeout: Duration) -> Result<(), RingError> {
            self.end.wait_for(Instant::now().checked_add(timeout), |end| end.available(1).map(|n| n > 0))
        }

        /// The length of the next message if it is ready and whole in the next
        /// slot (what [`read_with`](ByteRing::read_with) then copies straight
        /// from the slot); `None` if nothing is ready, or the next slot is
        /// anything else (a fragment, a mark, a message over the limit, a bad
        /// header: `read` sorts those out). Takes nothing.
        pub fn peek_len(&mut self) -> Option<usize> {
            if self.end.corrupt.is_some() || !self.end.available(1).is_ok_and(|n| n > 0) {
                return None;
            }
            let (ring, cursor) = self.end.ring_and_cursor();
            // Relaxed: ordered by `Ring::available`'s Acquire load above, which
            // pairs with the Release store in `Ring::publish`.
            let header = ring.ready_slot(cursor, 0)[0].load(crate::protocol::sync::Ordering::Relaxed);
            match fragment::step(header, false, self.slot) {
                Ok(fragment::Step::Begin { len, whole: true }) if len <= self.max_message => Some(len),
                _ => None,
            }
        }

        /// Takes the next whole message, if one is ready, and hands it to
        /// `take` as its length and a copier: `copy(offset, dst)` fills all of
        /// `dst` (which may be uninitialised: a buffer need not be zeroed
        /// first) with the message's bytes from `offset` and returns it as
        /// initialised bytes; it panics if that range is outside the
        /// message. A message in one slot is copied straight from
        /// the slot, which is released after `take` returns; one put together
        /// from fragments goes through `scratch` (as [`read`](ByteRing::read)
        /// puts it there). Returns what `take` returned, `None` if no whole
        /// message is ready; errors as [`read`](ByteRing::read)'s.
        ///
        /// # Panics
        ///
        /// The copier panics if asked for a range outside the message.
        ///
        /// ```
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// use shm_runtime::{ByteRing, Consumer, SharedObject};
        /// use std::mem::MaybeUninit;
        /// use std::time::Duration;
        ///
        /// let mut tx = ByteRing::create_memorybuf(8, 4)?;
        /// let mut rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle())?;
        /// let mut scratch = Vec::new();
        /// let mut tail = |rx: &mut ByteRing<Consumer>| {
        ///     rx.read_with(&mut scratch, |len, copy| {
        ///         let mut last = [MaybeUninit::uninit(); 3];
        ///         (len, <[u8; 3]>::try_from(&*copy(len - 3, &mut last)).unwrap())
        ///     })
        /// };
        /// tx.write(b"in place")?;
        /// assert_eq!(tail(&mut rx)?, Some((8, *b"ace")));
        /// tx.write_partial(b"in fragments", Duration::from_secs(1))?;
        /// assert_eq!(tail(&mut rx)?, Some((12, *b"nts")));
        /// assert_eq!(tail(&mut rx)?, None);
        /// # Ok(()) }
        /// ```
        pub fn read_with<T>(
            &mut self,
            scratch: &mut Vec<u8>,
            take: impl FnOnce(usize, &mut dyn for<'d> FnMut(usize, &'d mut [MaybeUninit<u8>]) -> &'d mut [u8]) -> T,
        ) -> Result<Option<T>, RingError> {
            self.end.check()?;
            if self.end.available(1).map_err(|c| self.end.fail(c))? == 0 {
                return Ok(None);
            }
            let (slot, max) = (self.slot, self.max_message);
            let (ring, cursor) = self.end.ring_and_cursor();
            let words = ring.ready_slot(cursor, 0);
            // Relaxed: `Ring::available`'s Acquire load of the write position
            // above, which pairs with the Release store in `Ring::publish`,
            // ordered this slot's stores before us (as in `Reassembly::take`).
            let header = words[0].load(crate::protocol::sync::Ordering::Relaxed);
            // Whether a slot begins a message does not depend on what this end
            // holds (`open` only matters for continuations).
            match fragment::step(header, false, slot) {
                Ok(fragment::Step::Begin { len, whole: true }) if len <= max => {
                    // A message beginning drops an unfinished one, as in
                    // `Reassembly::take`.
                    self.assembly.void();
                    let mut copy = copier(|offset, dst| {
                        assert!(offset <= len && dst.len() <= len - offset, "a copy past the message's end");
                        if offset.is_multiple_of(8) {
                            // The slot's words from `offset` on hold at least
                            // `slot - offset >= dst.len()` bytes: `dst` is
                            // filled whole.
                            crate::protocol::copy::load_bytes(&words[1 + offset / 8..], dst);
                        } else {
                            // Fills `dst` whole or panics: the slot's words
                            // hold the message's `len` bytes.
                            crate::protocol::copy::load_range(&words[1..], offset, dst);
                        }
                        // SAFETY: every byte of `dst` was just initialised:
                        // `load_bytes` fills it as far as the words reach,
                        // which is past its end (see above), and
                        // `load_range` fills it whole or panics.
                        unsafe { assume_init(dst) }
                    });
                    let out = take(len, &mut copy);
                    let (ring, cursor) = self.end.ring_and_cursor();
                    ring.release(cursor, 1);
                    self.end.notify_peer();
                    Ok(Some(out))
                }
                // Fragments, marks, a message over the limit, a bad header:
                // the general path sorts them out.
                _ => {
                    if !self.read(scratch)? {
                        return Ok(None);
                    }
                    let message = scratch.as_slice();
                    let mut copy = copier(|offset, dst| {
                        let end = offset.checked_add(dst.len()).filter(|&end| end <= message.len());
                        let end = end.expect("a copy past the message's end");
                        for (to, from) in dst.iter_mut().zip(&message[offset..end]) {
                            to.write(*from);
                        }
                        // SAFETY: the loop wrote every byte of `dst` (the
                        // range it copies from is exactly as long).
                        unsafe { assume_init(dst) }
                    });
                    Ok(Some(take(message.len(), &mut copy)))
                }
            }
        }
    }

    /// `f` as the copier [`ByteRing::read_with`] hands out (the bound gives
    /// the closure its signature).
    fn copier<F: for<'d> FnMut(usize, &'d mut [MaybeUninit<u8>]) -> &'d mut [u8]>(f: F) -> F {
        f
    }

    /// `bytes`, every one of them initialised, as `u8`s.
    ///
    /// # Safety
    ///
    /// Every byte of `bytes` is initialised.
    unsafe fn assume_init(bytes: &mut [MaybeUninit<u8>]) -> &mut [u8] {
        // SAFETY: `MaybeUninit<u8>` has the size and alignment of `u8`, and
        // the caller promises every byte initialised; the result borrows
        // `bytes` exclusively for its lifetime.
        unsafe { &mut *(core::ptr::from_mut(bytes) as *mut [u8]) }
    }

    #[cfg(test)]
    mod tests {
        use super::super::{ByteRing, Consumer, Producer};
        use crate::SharedObject;
        use crate::segment::error::RingError;
        use core::mem::MaybeUninit;
        use core::sync::atomic::{AtomicU64, Ordering};
        use std::time::Duration;

        fn pair(slot: usize, n: usize) -> (ByteRing<Producer>, ByteRing<Consumer>) {
            let tx = ByteRing::<Producer>::create_memorybuf(slot, n).unwrap();
            let rx = ByteRing::<Consumer>::load_memorybuf(&tx.handle()).unwrap();
            (tx, rx)
        }

        /// The next message through `read_with`, copied in pieces of
        /// `piece` bytes (unaligned offsets included).
        fn read_in_pieces(rx: &mut ByteRing<Consumer>, piece: usize) -> Result<Option<Vec<u8>>, RingError> {
            rx.read_with(&mut Vec::new(), |len, copy| {
                let mut out = Vec::new();
                let mut at = 0;
                while at < len {
                    let mut buffer = vec![MaybeUninit::uninit(); piece.min(len - at)];
                    out.extend_from_slice(copy(at, &mut buffer));
                    at += buffer.len();
                }
                out
            })
        }

        fn header_word(rx: &ByteRing<Consumer>, slot_index: usize) -> &AtomicU64 {
            let slot_words = rx.end.shape.slot_words;
            &rx.end.segment().payload().words()[40 + slot_index * slot_words]
        }

        #[test]
        fn parts_and_pieces_carry_every_byte() {
            let (mut tx, mut rx) = pair(100, 4);
            let body: Vec<u8> = (0..93).collect();
            for piece in [1, 3, 8, 13, 100] {
                tx.write_parts(&[b"abc", &body[..], b"", b"defg"]).unwrap();
                let mut expected = b"abc".to_vec();
                expected.extend_from_slice(&body);
                expected.extend_from_slice(b"defg");
                assert_eq!(read_in_pieces(&mut rx, piece).unwrap().unwrap(), expected, "pieces of {piece}");
            }
            assert_eq!(read_in_pieces(&mut rx, 8).unwrap(), None);
            assert_eq!(rx.peek_len(), None);
            tx.write_parts(&[]).unwrap();
            assert_eq!(rx.peek_len(), Some(0));
            assert_eq!(read_in_pieces(&mut rx, 8).unwrap().unwrap(), b"");
        }

        #[test]
        fn odd_pieces_at_odd_offsets_carry_every_byte() {
            let slot = 4096;
            let (mut tx, mut rx) = pair(slot, 4);
            // Every slot holds stale bytes first, so that a byte the
            // pieces miss would show.
            for _ in 0..4 {
                tx.write(&vec![0xEE; slot]).unwrap();
                rx.read_timeout(&mut Vec::new(), Duration::from_secs(1)).unwrap();
            }
            let sizes = [1, 7, 63, 64, 65, 3, 129, 0, 200, 5, 127, 1000, 9, 71, 13, 255, 2, 191, 640, 11, 1];
            let mut seed = 0_u8;
            for lead in 0..12 {
                let mut bytes = Vec::new();
                let mut pieces = Vec::new();
                // A leading piece of `lead` bytes puts every later piece at
                // another offset within its word.
                for &len in std::iter::once(&lead).chain(&sizes[lead % 5..]) {
                    let piece: Vec<u8> =
                        (0..len).map(|i: usize| i.to_le_bytes()[0].wrapping_mul(37).wrapping_add(seed)).collect();
                    seed = seed.wrapping_add(101);
                    bytes.extend_from_slice(&piece);
                    pieces.push(piece);
                }
                assert!(bytes.len() <= slot);
                let parts: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
                tx.write_parts(&parts).unwrap();
                let mut message = Vec::new();
                rx.read_timeout(&mut message, Duration::from_secs(1)).unwrap();
                assert_eq!(message.len(), bytes.len(), "lead {lead}");
                for (at, (got, want)) in message.iter().zip(&bytes).enumerate() {
                    assert_eq!(got, want, "lead {lead}: byte {at}");
                }
            }
        }

        #[test]
        fn parts_refused_like_a_write() {
            let (mut tx, mut rx) = pair(8, 1);
            assert!(tx.write_parts(&[b"12345", b"6789"]).is_err(), "9 bytes in an 8-byte slot");
            tx.write_parts(&[b"1234", b"5678"]).unwrap();
            assert!(tx.write_parts(&[b"x"]).is_err(), "full");
            assert!(tx.wait_writable(Duration::from_millis(1)).is_err(), "still full");
            assert_eq!(rx.peek_len(), Some(8));
            rx.wait_readable(Duration::ZERO).unwrap();
            assert_eq!(read_in_pieces(&mut rx, 8).unwrap().unwrap(), b"12345678");
            tx.wait_writable(Duration::ZERO).unwrap();
            assert!(matches!(rx.wait_readable(Duration::from_millis(1)), Err(RingError::Timeout { .. })));
        }

        #[test]
        #[should_panic(expected = "a copy past the message's end")]
        fn a_copy_past_the_end_panics() {
            let (mut tx, mut rx) = pair(16, 2);
            tx.write(b"short").unwrap();
            let _ = rx.read_with(&mut Vec::new(), |len, copy| copy(len - 2, &mut [MaybeUninit::uninit(); 3]).len());
        }

        #[test]
        fn fragments_and_bad_headers_go_the_general_way() {
            let (mut tx, mut rx) = pair(8, 4);
            tx.write_partial(b"over two slots", Duration::from_secs(1)).unwrap();
            assert_eq!(rx.peek_len(), None, "a fragment is not a whole message");
            assert_eq!(read_in_pieces(&mut rx, 5).unwrap().unwrap(), b"over two slots");
            tx.write(b"ok").unwrap();
            // A length over the slot size: never copied from the slot.
            header_word(&rx, 2).store(9, Ordering::Relaxed);
            assert_eq!(rx.peek_len(), None);
            let err = read_in_pieces(&mut rx, 8).unwrap_err();
            assert!(matches!(err, RingError::Corrupt { found: 9, .. }), "{err}");
            assert!(read_in_pieces(&mut rx, 8).is_err(), "sticky");
        }
    }
}
