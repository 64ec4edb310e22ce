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
//! bits 0..62  number of bytes in this slot, at most the slot size
//! ```
//!
//! The header is untrusted: a length above the slot size, unknown bits,
//! or an ABORT with bytes make the consumer's end corrupt (sticky).

use crate::cell::{load_bytes, store_bytes};
use crate::error::{CreateError, OpenError, RingError, SendError, ShareError};
use crate::fingerprint;
use crate::handle::Handle;
use crate::header::{Layout, ObjectKind};
use crate::options::OpenOptions;
use crate::ring::Corrupt;
use crate::ring_end::{Consumer, End, Producer, Role, ring_common};
use crate::segment::DEFAULT_OPEN_WAIT;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the header records for every byte ring.
const LAYOUT: Layout =
    Layout { fingerprint: fingerprint::of_str("shm::ByteRing(length-prefixed slots v1)"), type_name: "ByteRing" };
/// Slot header bit: the message continues in the next slot.
const MORE: u64 = 1 << 63;
/// Slot header bit: the unfinished message before this slot is void.
const ABORT: u64 = 1 << 62;
/// Slot header bits holding the length.
const LEN_MASK: u64 = ABORT - 1;

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
/// use shm_runtime::{ByteRing, Consumer, SendError};
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
    /// Producer: fragments of a message were published and its last
    /// fragment was not (a `write_partial` gave up), so the next write
    /// starts with an ABORT slot. Consumer: fragments of a message were
    /// taken into `partial` and its last one was not seen yet.
    mid_message: bool,
    /// Consumer: drop fragments up to the end of the current message
    /// (after `reset_read`, or a message over `max_message`).
    skipping: bool,
    /// Consumer: the message being put together from fragments. Reused,
    /// so steady traffic allocates nothing.
    partial: Vec<u8>,
    /// The encoding buffer of `write_serde`, the decoding one of
    /// `read_serde`; reused.
    #[cfg_attr(not(feature = "serde"), expect(dead_code, reason = "used by the serde methods"))]
    scratch: Vec<u8>,
    /// Consumer: longest message it accepts.
    max_message: usize,
}

impl<R: Role> ByteRing<R> {
    /// Creates a ring of `nr_of_memories` slots of up to `slot_size` bytes
    /// each under a generated name, and holds its `R` side (the seed's
    /// `MemoryInterface(size_per_memory, nr_of_memories)`).
    pub fn create_memorybuf(slot_size: usize, nr_of_memories: usize) -> Result<Self, CreateError> {
        Self::create(None, slot_size, nr_of_memories)
    }

    /// Creates a ring like [`create_memorybuf`](Self::create_memorybuf)
    /// under `name`.
    pub fn create_named(name: &str, slot_size: usize, nr_of_memories: usize) -> Result<Self, CreateError> {
        Self::create(Some(name), slot_size, nr_of_memories)
    }

    fn create(name: Option<&str>, slot_size: usize, nr_of_memories: usize) -> Result<Self, CreateError> {
        let slot_words = slot_words(slot_size).ok_or_else(|| {
            let name = name.map_or_else(|| Ok(crate::SegmentName::unnamed()), crate::SegmentName::new);
            match name {
                Ok(name) => CreateError::InvalidCapacity {
                    name,
                    capacity: slot_size,
                    reason: "a slot holds 1 to 2^62 - 1 bytes",
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
            mid_message: false,
            skipping: false,
            partial: Vec::new(),
            scratch: Vec::new(),
            max_message: usize::MAX,
        }
    }

    /// Opens the ring `handle` names as its `R` side, waiting up to
    /// [`DEFAULT_OPEN_WAIT`] for its creator to finish setting it up. The
    /// slot size is the creator's.
    pub fn load_memorybuf(handle: &Handle) -> Result<Self, OpenError> {
        Self::load_sharedobject_timeout(handle, DEFAULT_OPEN_WAIT)
    }

    /// Same as [`load_memorybuf`](Self::load_memorybuf).
    pub fn load_sharedobject(handle: &Handle) -> Result<Self, OpenError> {
        Self::load_sharedobject_timeout(handle, DEFAULT_OPEN_WAIT)
    }

    /// Opens the ring `handle` names as its `R` side, waiting up to `wait`
    /// for its creator. The side is a claim: a live holder is
    /// [`OpenError::RoleTaken`]; a dead holder's claim is taken over.
    pub fn load_sharedobject_timeout(handle: &Handle, wait: Duration) -> Result<Self, OpenError> {
        Self::load_sharedobject_with(handle, &OpenOptions::new().wait(wait))
    }

    /// Opens the ring `handle` names as its `R` side if `options` accept
    /// the segment's owner and mode (see [`OpenOptions`]), waiting up to
    /// `options.wait_time()` for its creator. The side is a claim, as in
    /// [`load_sharedobject_timeout`](Self::load_sharedobject_timeout).
    pub fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        let mut slot = 0;
        let end = End::open(handle, ObjectKind::ByteRing, LAYOUT, options, |shape| {
            let size = usize::try_from(shape.element_bytes).ok().filter(|s| slot_words(*s) == Some(shape.slot_words));
            slot = size.ok_or("slot size word disagrees with the words per slot")?;
            Ok(())
        })?;
        Ok(Self::with_end(end, slot))
    }

    /// Gives the segment's group read and write access (mode `0660`),
    /// first setting its group to `group` if given; the same as
    /// [`SharedInt::share_with_group`](crate::SharedInt::share_with_group).
    /// Only the end that created the ring, in the creating process.
    pub fn share_with_group(&self, group: Option<u32>) -> Result<(), ShareError> {
        self.end.segment().share_with_group(group)
    }

    /// Largest number of bytes one slot holds (a message `write` accepts).
    #[must_use]
    pub fn slot_size(&self) -> usize {
        self.slot
    }
}

ring_common!(impl[R: Role] ByteRing<R>);

/// Words per slot for messages of up to `slot_size` bytes: the header and
/// the bytes; `None` for a size the header cannot hold.
fn slot_words(slot_size: usize) -> Option<usize> {
    (slot_size > 0 && (slot_size as u64) <= LEN_MASK).then(|| 1 + slot_size.div_ceil(8))
}

impl ByteRing<Producer> {
    /// Whether a `write` of a message up to the slot size would find room
    /// now.
    pub fn can_write(&mut self) -> bool {
        self.room(1).is_ok_and(|n| n > 0)
    }

    /// Free slots (loading the consumer's position if fewer than `wanted`
    /// are known free), after voiding an unfinished message; 0 if even
    /// that found no room.
    fn room(&mut self, wanted: u64) -> Result<u64, RingError> {
        self.end.check()?;
        if self.mid_message {
            if self.free(1)? == 0 {
                return Ok(0);
            }
            // The ABORT slot: the consumer drops what it has of the message
            // a failed `write_partial` left unfinished.
            let (ring, cursor) = self.end.ring_and_cursor();
            ring.free_slot(cursor, 0)[0].store(ABORT, Ordering::Relaxed);
            ring.publish(cursor, 1);
            self.mid_message = false;
        }
        self.free(wanted)
    }

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

    /// Writes `message` into the next slot. A message longer than the
    /// slot size is [`SendError::TooLarge`]; a full ring (or one found
    /// corrupt, see [`error`](ByteRing::error)) [`SendError::Full`]. Either
    /// way nothing is written.
    pub fn write(&mut self, message: &[u8]) -> Result<(), SendError> {
        if message.len() > self.slot {
            return Err(SendError::TooLarge { len: message.len(), slot: self.slot });
        }
        if !self.can_write() {
            return Err(SendError::Full);
        }
        self.put_fragments(message, 1, true);
        Ok(())
    }

    /// Writes `message`, waiting up to `timeout` for a free slot (a
    /// timeout too long for the clock is no deadline).
    pub fn write_timeout(&mut self, message: &[u8], timeout: Duration) -> Result<(), RingError> {
        if message.len() > self.slot {
            return Err(RingError::TooLarge { name: self.name().clone(), len: message.len(), max: self.slot });
        }
        self.wait_room(Instant::now().checked_add(timeout), 1)?;
        self.put_fragments(message, 1, true);
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
    pub fn write_partial(&mut self, data: &[u8], timeout: Duration) -> Result<(), RingError> {
        let deadline = Instant::now().checked_add(timeout);
        // At least one fragment: an empty message is one empty slot.
        let slot = self.slot;
        let fragments = |rest: &[u8]| rest.len().div_ceil(slot).max(1) as u64;
        let mut free = self.wait_room(deadline, fragments(data))?;
        let mut rest = data;
        loop {
            let wanted = fragments(rest);
            let now = free.min(wanted);
            let bytes = usize::try_from(now).map_or(rest.len(), |n| n.saturating_mul(slot).min(rest.len()));
            let (taken, left) = rest.split_at(bytes);
            self.put_fragments(taken, now, now == wanted);
            if now == wanted {
                return Ok(());
            }
            rest = left;
            // Our own message is under way (`mid_message`): wait for room
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
    /// they are free), each but the last marked MORE, and the last too
    /// unless it `ends` the message; publishes them with one store and
    /// wakes a sleeping consumer.
    fn put_fragments(&mut self, bytes: &[u8], fragments: u64, ends: bool) {
        let slot = self.slot;
        let (ring, cursor) = self.end.ring_and_cursor();
        let mut chunks = bytes.chunks(slot);
        for i in 0..fragments {
            let last = i + 1 == fragments;
            put_fragment(ring.free_slot(cursor, i), chunks.next().unwrap_or_default(), !last || !ends);
        }
        ring.publish(cursor, fragments);
        self.mid_message = !ends;
        self.end.notify_peer();
    }

    /// Encodes `value` with postcard and writes it as one message (see
    /// [`write`](ByteRing::write)); the consumer decodes it with
    /// [`read_serde`](ByteRing::read_serde). The encoding buffer is kept
    /// for the next call.
    #[cfg(feature = "serde")]
    pub fn write_serde<V: serde::Serialize + ?Sized>(&mut self, value: &V) -> Result<(), SendError> {
        let encoded = self.encode(value).map_err(|reason| SendError::Encode { reason })?;
        let written = self.write(&encoded);
        self.scratch = encoded;
        written
    }

    /// Encodes `value` with postcard and writes it, waiting up to
    /// `timeout` for a free slot.
    #[cfg(feature = "serde")]
    pub fn write_serde_timeout<V: serde::Serialize + ?Sized>(
        &mut self,
        value: &V,
        timeout: Duration,
    ) -> Result<(), RingError> {
        let encoded = self.encode(value).map_err(|reason| RingError::Encode { name: self.name().clone(), reason })?;
        let written = self.write_timeout(&encoded, timeout);
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

/// Stores one fragment: header word, then the bytes.
fn put_fragment(words: &[AtomicU64], chunk: &[u8], more: bool) {
    let header = chunk.len() as u64 | if more { MORE } else { 0 };
    words[0].store(header, Ordering::Relaxed);
    store_bytes(&words[1..], chunk);
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
    /// producer can go on) and kept until its last one arrives.
    ///
    /// Errors: [`RingError::Corrupt`] (sticky) for a slot header no
    /// producer could write, [`RingError::TooLarge`] for a message over
    /// [`set_max_message_len`](ByteRing::set_max_message_len) (skipped).
    pub fn read(&mut self, message: &mut Vec<u8>) -> Result<bool, RingError> {
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
            let header = words[0].load(Ordering::Relaxed);
            let len = header & LEN_MASK;
            let flags = header & !LEN_MASK;
            if len > self.slot as u64 || (flags & ABORT != 0 && header != ABORT) {
                return Err(self.end.fail(Corrupt { what: "message header", found: header }));
            }
            let len = usize::try_from(len).expect("at most the slot size");
            let more = flags & MORE != 0;
            *taken += 1;
            if header == ABORT {
                self.partial.clear();
                (self.mid_message, self.skipping) = (false, false);
                continue;
            }
            if self.skipping {
                self.skipping = more;
                continue;
            }
            if !self.mid_message && !more {
                // A whole message in one slot: straight into the caller's
                // buffer.
                if len > self.max_message {
                    return Err(self.too_large(len));
                }
                message.clear();
                message.resize(len, 0);
                load_bytes(&words[1..], message);
                return Ok(true);
            }
            let start = self.partial.len();
            if start.saturating_add(len) > self.max_message {
                self.partial.clear();
                (self.mid_message, self.skipping) = (false, more);
                return Err(self.too_large(start.saturating_add(len)));
            }
            self.partial.resize(start + len, 0);
            load_bytes(&words[1..], &mut self.partial[start..]);
            self.mid_message = more;
            if !more {
                message.clear();
                core::mem::swap(message, &mut self.partial);
                return Ok(true);
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
    pub fn read_blocking(&mut self, message: &mut Vec<u8>) -> Result<(), RingError> {
        self.read_until(message, None)
    }

    fn read_until(&mut self, message: &mut Vec<u8>, deadline: Option<Instant>) -> Result<(), RingError> {
        while !self.read(message)? {
            self.end.wait_for(deadline, |end| end.available(1).map(|n| n > 0))?;
        }
        Ok(())
    }

    /// Drops everything unread: the slots published so far and the part of
    /// a message put together from fragments; returns how many slots. The
    /// rest of a message cut this way is skipped when it arrives.
    pub fn reset_read(&mut self) -> Result<u64, RingError> {
        self.end.check()?;
        let ready = self.end.available(u64::MAX).map_err(|c| self.end.fail(c))?;
        let (ring, cursor) = self.end.ring_and_cursor();
        let cut = match ready.checked_sub(1) {
            // The last slot dropped decides whether more of its message
            // comes (a bad header only makes us skip a message or not).
            Some(last) => ring.ready_slot(cursor, last)[0].load(Ordering::Relaxed) & (MORE | ABORT) == MORE,
            None => self.mid_message || self.skipping,
        };
        ring.release(cursor, ready);
        self.partial.clear();
        (self.mid_message, self.skipping) = (false, cut);
        self.end.notify_peer();
        Ok(ready)
    }

    /// Takes the next message and decodes it with postcard as a `V`;
    /// `Ok(None)` if no whole message is ready. A message that does not
    /// decode as a `V` is consumed and reported as [`RingError::Decode`].
    #[cfg(feature = "serde")]
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
    /// it with postcard as a `V`.
    #[cfg(feature = "serde")]
    pub fn read_serde_timeout<V: serde::de::DeserializeOwned>(&mut self, timeout: Duration) -> Result<V, RingError> {
        let mut message = core::mem::take(&mut self.scratch);
        let result = self.read_timeout(&mut message, timeout).and_then(|()| self.decode(&message));
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

        for junk in [ABORT | 1, ABORT | MORE, 1 << 61 | 2, u64::MAX] {
            let (mut tx, mut rx) = pair(8, 2);
            tx.write(b"m").unwrap();
            header_word(&rx, 0).store(junk, Ordering::Relaxed);
            assert!(matches!(rx.read(&mut Vec::new()), Err(RingError::Corrupt { .. })), "{junk:#x}");
        }
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
        assert!(matches!(tx.write_serde(&vec![0u8; 100]), Err(SendError::TooLarge { slot: 64, .. })));
        tx.write(&[0xff; 3]).unwrap();
        let err = rx.read_serde::<String>().unwrap_err();
        assert!(matches!(&err, RingError::Decode { len: 3, type_name, .. } if type_name.contains("String")), "{err}");
        tx.write_serde_timeout("after", Duration::from_secs(1)).unwrap();
        assert_eq!(rx.read_serde_timeout::<String>(Duration::from_secs(1)).unwrap(), "after");
    }
}
