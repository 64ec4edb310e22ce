//! `ByteBroadcast` and `ByteSubscriber`: the broadcast of byte messages
//! up to a slot size fixed at creation, on the same core as
//! `Broadcast<T>` (`PublisherEnd`, `SubscriberEnd`, `protocol/broadcast.rs`),
//! as `ByteRing` sits beside `MemoryInterface`.
//!
//! A slot's element words are a length word, then the message's bytes
//! (`FORMAT.md`, `bytebroadcast`). The length word is untrusted: a
//! subscriber never reads past the slot size whatever it says, and a
//! length above the slot size makes the subscriber's end corrupt
//! (sticky), since only a hostile process stores one. Under
//! [`Policy::Overwrite`] the slot's sequence word covers the length word
//! with the bytes: a message replaced while it was copied (its length
//! and bytes may then come from two messages) is reported missed, never
//! returned.

use super::error::{PublishError, RecvError};
use super::publisher::{Element, PublisherEnd};
use super::subscriber::SubscriberEnd;
use super::{BroadcastConfig, open_side};
use crate::format::header::{Layout, ObjectKind};
use crate::format::schema;
use crate::object::ring::PeerState;
use crate::object::shared_object::sealed::{SegmentOwned, SegmentRef};
use crate::object::shared_object::{self, SharedObject};
use crate::protocol::broadcast::{Message, Policy, Shape};
use crate::protocol::ring::Corrupt;
use crate::segment::error::{CreateError, OpenError, SendError};
use crate::segment::handle::Handle;
use crate::segment::name::SegmentName;
use crate::segment::options::OpenOptions;
use core::fmt;
use std::time::{Duration, Instant};

/// What the header records for every byte broadcast (each message is
/// `bytes`; the kind tells it from a `bytes` value and a byte ring).
const LAYOUT: Layout<'static> = Layout::of(schema::builtin::BYTES, "ByteBroadcast");

/// Element words of a slot of `slot_size` bytes: the length word and the
/// data words. `None` for a size no byte broadcast has.
fn message_words(slot_size: usize) -> Option<usize> {
    (1..=ByteBroadcast::MAX_SLOT_SIZE).contains(&slot_size).then(|| 1 + slot_size.div_ceil(8))
}

/// The slot size a stored (untrusted) shape describes, if its words agree
/// with it.
fn slot_size_of(shape: &Shape) -> Option<usize> {
    let size = usize::try_from(shape.element_bytes.checked_sub(8)?).ok()?;
    (message_words(size)? == shape.slot_words).then_some(size)
}

/// One publisher streaming byte messages of up to a slot size (fixed at
/// creation) to up to `max_subscribers` [`ByteSubscriber`] processes,
/// each at its own pace: the byte form of [`Broadcast<T>`](crate::Broadcast),
/// as [`ByteRing`](crate::ByteRing) is of
/// [`MemoryInterface<T>`](crate::MemoryInterface). A subscriber gets each
/// message back with exactly its length: never padding, never a part of
/// an older message.
///
/// Policies, subscribers, waiting and trust work as for
/// [`Broadcast<T>`](crate::Broadcast). A message longer than a slot is
/// refused with nothing written ([`SendError::TooLarge`]).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{BroadcastConfig, ByteBroadcast, ByteSubscriber, Policy, SendError, SharedObject};
///
/// // 64-byte slots, 16 of them.
/// let mut tx = ByteBroadcast::create(64, &BroadcastConfig::new(16, Policy::Backpressure))?;
/// let mut a = ByteSubscriber::load_sharedobject(&tx.handle())?; // in another process
/// let mut b = tx.subscribe()?;
/// tx.publish(b"frame 1")?;
/// assert_eq!(tx.publish(&[0; 65]), Err(SendError::TooLarge { len: 65, slot: 64 }));
///
/// let mut buffer = [0u8; 64];
/// assert_eq!(a.read(&mut buffer)?, Some(7));
/// assert_eq!(&buffer[..7], b"frame 1");
/// let mut message = Vec::new();
/// assert!(b.read_vec(&mut message)?);
/// assert_eq!(message, b"frame 1");
/// assert_eq!(b.read(&mut buffer)?, None, "nothing more");
/// # Ok(()) }
/// ```
pub struct ByteBroadcast {
    end: PublisherEnd,
    /// Largest message, in bytes.
    slot: usize,
}

impl ByteBroadcast {
    /// Largest slot size, 4 GiB: a message's length and its slot's words
    /// stay far from any overflow.
    pub const MAX_SLOT_SIZE: usize = 1 << 32;

    /// Creates a broadcast of messages of up to `slot_size` bytes (1 to
    /// [`MAX_SLOT_SIZE`](Self::MAX_SLOT_SIZE)) under a generated name, and holds its publisher
    /// side.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{BroadcastConfig, ByteBroadcast, Policy};
    ///
    /// let tx = ByteBroadcast::create(1500, &BroadcastConfig::new(256, Policy::Overwrite))?;
    /// assert_eq!((tx.slot_size(), tx.capacity(), tx.policy()), (1500, 256, Policy::Overwrite));
    /// # Ok(()) }
    /// ```
    pub fn create(slot_size: usize, config: &BroadcastConfig) -> Result<Self, CreateError> {
        Self::create_in(None, slot_size, config)
    }

    /// Creates a broadcast of messages of up to `slot_size` bytes under
    /// `name`, and holds its publisher side; subscribers may then meet it
    /// by name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::{BroadcastConfig, ByteBroadcast, ByteSubscriber, Policy, SharedObject};
    /// # let name = format!("shmrs-doc-bytebcast-{}", std::process::id());
    ///
    /// let mut tx = ByteBroadcast::create_named(&name, 32, &BroadcastConfig::new(8, Policy::Backpressure))?;
    /// let mut rx = ByteSubscriber::open(&name)?; // another process, by the name alone
    /// tx.publish(b"hello")?;
    /// let mut message = Vec::new();
    /// assert!(rx.read_vec(&mut message)?);
    /// assert_eq!(message, b"hello");
    /// # Ok(()) }
    /// ```
    pub fn create_named(name: &str, slot_size: usize, config: &BroadcastConfig) -> Result<Self, CreateError> {
        Self::create_in(Some(name), slot_size, config)
    }

    fn create_in(name: Option<&str>, slot_size: usize, config: &BroadcastConfig) -> Result<Self, CreateError> {
        let Some(slot_words) = message_words(slot_size) else {
            let name = name.map_or_else(|| Ok(SegmentName::unnamed()), SegmentName::new);
            let reason = "a byte broadcast's slots hold 1 byte to 4 GiB";
            return Err(CreateError::InvalidCapacity {
                name: name.map_err(CreateError::InvalidName)?,
                capacity: slot_size,
                reason,
            });
        };
        let element =
            Element { kind: ObjectKind::ByteBroadcast, layout: LAYOUT, slot_words, bytes: slot_size as u64 + 8 };
        Ok(Self { end: PublisherEnd::create(name, config, element)?, slot: slot_size })
    }

    /// Opens the broadcast as a new subscriber (see [`ByteSubscriber`]);
    /// the same as `ByteSubscriber::load_sharedobject`.
    pub fn subscribe(&self) -> Result<ByteSubscriber, OpenError> {
        ByteSubscriber::load_sharedobject(&self.handle())
    }

    /// Largest message, in bytes.
    #[must_use]
    pub fn slot_size(&self) -> usize {
        self.slot
    }

    /// Whether a `publish` would find room now.
    pub fn can_publish(&mut self) -> bool {
        self.end.free(1) > 0
    }

    /// Publishes `message`. Under backpressure, with no room (a live
    /// subscriber has not read the message in the slot), returns
    /// [`SendError::Full`] and writes nothing; under overwrite, never
    /// waits.
    ///
    /// # Errors
    ///
    /// [`SendError::TooLarge`] if the message is longer than a slot,
    /// [`SendError::Full`] as above; nothing is written either way.
    #[inline]
    pub fn publish(&mut self, message: &[u8]) -> Result<(), SendError> {
        self.fits(message).map_err(|len| SendError::TooLarge { len, slot: self.slot })?;
        if self.end.free(1) == 0 {
            return Err(SendError::Full);
        }
        self.end.put_and_publish(&[message], |ring, cursor, i, message| ring.put_message(cursor, i, message));
        Ok(())
    }

    /// Publishes as many of `messages` as there is room for (in order,
    /// with one publishing store per run of free slots); returns how many.
    /// Under overwrite, all of them.
    ///
    /// # Errors
    ///
    /// [`SendError::TooLarge`] if any message is longer than a slot;
    /// nothing is written then.
    pub fn publish_many<M: AsRef<[u8]>>(&mut self, messages: &[M]) -> Result<usize, SendError> {
        for message in messages {
            self.fits(message.as_ref()).map_err(|len| SendError::TooLarge { len, slot: self.slot })?;
        }
        let mut done = 0;
        while done < messages.len() {
            let free = self.end.free((messages.len() - done) as u64);
            let n = usize::try_from(free).map_or(messages.len() - done, |free| free.min(messages.len() - done));
            if n == 0 {
                break;
            }
            self.end.put_and_publish(&messages[done..done + n], |ring, cursor, i, message| {
                ring.put_message(cursor, i, message.as_ref());
            });
            done += n;
        }
        Ok(done)
    }

    /// Publishes `message`, waiting up to `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`PublishError::TooLarge`] at once if the message is longer than a
    /// slot; [`PublishError::Timeout`] if no room came in time.
    pub fn publish_timeout(&mut self, message: &[u8], timeout: Duration) -> Result<(), PublishError> {
        self.publish_waiting(message, Instant::now().checked_add(timeout))
    }

    /// Publishes `message`, waiting as long as it takes for room (dead
    /// subscribers stop holding it back within a liveness check).
    ///
    /// # Errors
    ///
    /// [`PublishError::TooLarge`] if the message is longer than a slot.
    pub fn publish_blocking(&mut self, message: &[u8]) -> Result<(), PublishError> {
        self.publish_waiting(message, None)
    }

    fn publish_waiting(&mut self, message: &[u8], deadline: Option<Instant>) -> Result<(), PublishError> {
        self.fits(message).map_err(|len| PublishError::TooLarge {
            name: self.end.side.name().clone(),
            len,
            slot: self.slot,
        })?;
        self.end.wait_for_room(deadline)?;
        self.end.put_and_publish(&[message], |ring, cursor, i, message| ring.put_message(cursor, i, message));
        Ok(())
    }

    /// `Err(len)` if `message` is longer than a slot.
    #[inline]
    fn fits(&self, message: &[u8]) -> Result<(), usize> {
        if message.len() > self.slot { Err(message.len()) } else { Ok(()) }
    }

    /// Waits up to `timeout` until there is room for one message. A
    /// timeout too long for the clock is no deadline.
    ///
    /// # Errors
    ///
    /// [`PublishError::Timeout`] if no room came in time.
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

    /// Number of messages published so far (the write position, wrapping
    /// as [`Broadcast::published`](crate::Broadcast::published) does).
    #[must_use]
    pub fn published(&self) -> u64 {
        self.end.published()
    }

    /// Number of table entries held by a process now.
    #[must_use]
    pub fn subscriber_count(&self) -> usize {
        self.end.subscriber_count()
    }

    /// Each active subscriber's process id and lag, as
    /// [`Broadcast::subscriber_lags`](crate::Broadcast::subscriber_lags).
    #[must_use]
    pub fn subscriber_lags(&self) -> Vec<(u64, u64)> {
        self.end.subscriber_lags()
    }

    /// Subscribers found dead while they held this publisher back.
    #[must_use]
    pub fn lost_subscribers(&self) -> u64 {
        self.end.cursor.lost
    }

    /// Subscribers whose read position or entry made no sense (their
    /// entries were taken away).
    #[must_use]
    pub fn corrupt_subscribers(&self) -> u64 {
        self.end.cursor.corrupt
    }
}

impl SharedObject for ByteBroadcast {
    /// Opens the byte broadcast `handle` names as its publisher (a
    /// successor of a dead publisher continues where it stopped). A live
    /// publisher is [`OpenError::RoleTaken`]. To read, open a
    /// [`ByteSubscriber`] instead.
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        let (side, slot) = open_bytes(handle, options)?;
        Ok(Self { end: PublisherEnd::claim(side)?, slot })
    }
}

impl shared_object::sealed::Sealed for ByteBroadcast {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(self.end.side.segment())
    }

    fn into_segment(mut self) -> SegmentOwned {
        SegmentOwned(self.end.take_segment())
    }
}

impl fmt::Debug for ByteBroadcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteBroadcast")
            .field("handle", &self.handle().to_string())
            .field("policy", &self.policy())
            .field("capacity", &self.capacity())
            .field("slot_size", &self.slot)
            .field("published", &self.published())
            .finish_non_exhaustive()
    }
}

/// Opens the byte broadcast `handle` names: its side and slot size.
fn open_bytes(handle: &Handle, options: &OpenOptions) -> Result<(super::Side, usize), OpenError> {
    let mut slot = 0;
    let side = open_side(handle, options, ObjectKind::ByteBroadcast, LAYOUT, |shape, _| {
        slot_size_of(shape).inspect(|size| slot = *size).is_some()
    })?;
    Ok((side, slot))
}

/// One subscriber of a [`ByteBroadcast`]: reads every message published
/// after it joined (or the last `history` ones before), at its own pace,
/// in order, each with exactly its length.
///
/// `read` copies the next message into a buffer of the caller's, with no
/// allocation (a buffer of [`slot_size`](Self::slot_size) bytes takes any
/// message); `read_vec` fills a `Vec<u8>`, reusing its allocation. Both
/// have timeout and blocking forms; `iter` yields messages until the
/// publisher lets go. Lags, `Closed`, `PeerDead`, eviction and corruption
/// are as for [`Subscriber<T>`](crate::Subscriber).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::{BroadcastConfig, ByteBroadcast, Policy, RecvError};
///
/// let mut tx = ByteBroadcast::create(16, &BroadcastConfig::new(2, Policy::Overwrite))?;
/// let mut rx = tx.subscribe()?;
/// tx.publish_many(&["a", "bb", "ccc"])?; // never waits: overwrites the oldest
/// let mut buffer = [0u8; 2];
/// assert_eq!(rx.read(&mut buffer), Err(RecvError::Lagged(1)), "\"a\" was overwritten");
/// assert_eq!(rx.read(&mut buffer), Ok(Some(2)));
/// assert_eq!(rx.read(&mut buffer), Err(RecvError::BufferTooSmall { len: 3, buffer: 2 }));
/// drop(tx);
/// let rest: Vec<Vec<u8>> = rx.iter().collect::<Result<_, _>>()?;
/// assert_eq!(rest, [b"ccc"]);
/// # Ok(()) }
/// ```
pub struct ByteSubscriber {
    end: SubscriberEnd,
    /// Largest message, in bytes.
    slot: usize,
}

impl SharedObject for ByteSubscriber {
    /// Opens the byte broadcast `handle` names as a new subscriber, as
    /// [`Subscriber<T>`](crate::Subscriber) does: a free table entry (or a
    /// dead subscriber's), else [`OpenError::RoleTaken`].
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        let (side, slot) = open_bytes(handle, options)?;
        Ok(Self { end: SubscriberEnd::join(side)?, slot })
    }
}

impl ByteSubscriber {
    /// Copies the next message into the front of `buffer` and returns its
    /// length; `Ok(None)` if none is ready.
    ///
    /// # Errors
    ///
    /// [`RecvError::BufferTooSmall`] if the message is longer than
    /// `buffer` (it stays unread); [`RecvError::Lagged`] (overwrite
    /// policy) if messages were overwritten before this subscriber read
    /// them; [`RecvError::Corrupt`] (sticky) if the message's length word
    /// is above the slot size; [`RecvError::Evicted`] (sticky).
    #[inline]
    pub fn read(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, RecvError> {
        if self.end.ready(1)? == 0 {
            return Ok(None);
        }
        self.take_one(buffer).map(Some)
    }

    /// Copies the next message (the caller checked one is ready) into
    /// `buffer` and moves past it.
    #[inline]
    fn take_one(&mut self, buffer: &mut [u8]) -> Result<usize, RecvError> {
        let room = buffer.len();
        self.take_into(|len| buffer.get_mut(..len), room)
    }

    /// Copies the next message into the buffer `sink` hands out for its
    /// length (`room`: what a too-short buffer is reported as) and moves
    /// past it.
    #[inline]
    fn take_into<'b>(
        &mut self,
        sink: impl FnOnce(usize) -> Option<&'b mut [u8]>,
        room: usize,
    ) -> Result<usize, RecvError> {
        let ring = self.end.side.ring();
        match ring.get_message(&self.end.cursor, 0, self.slot, sink) {
            Message::Got(len) => {
                self.end.advance(1);
                Ok(len)
            }
            Message::TooLong(len) => Err(RecvError::BufferTooSmall { len, buffer: room }),
            Message::BadLength(found) => Err(self.end.found_corrupt(Corrupt { what: "message length", found })),
            Message::Overwritten => Err(self.end.overwritten()),
        }
    }

    /// Takes the next message into `message` (replacing what it held,
    /// reusing its allocation); `Ok(false)` if none is ready.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), without `BufferTooSmall`. After an error
    /// `message` holds nothing of use.
    pub fn read_vec(&mut self, message: &mut Vec<u8>) -> Result<bool, RecvError> {
        if self.end.ready(1)? == 0 {
            return Ok(false);
        }
        self.take_vec(message).map(|()| true)
    }

    fn take_vec(&mut self, message: &mut Vec<u8>) -> Result<(), RecvError> {
        self.take_into(into_vec(message), usize::MAX).map(|_| ())
    }

    /// Copies the next message into `buffer`, waiting up to `timeout` for
    /// one; returns its length.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), and [`RecvError::Timeout`],
    /// [`RecvError::Closed`] (the publisher let go and everything was
    /// read) or [`RecvError::PeerDead`] (it died, and everything it
    /// published was read).
    pub fn read_timeout(&mut self, buffer: &mut [u8], timeout: Duration) -> Result<usize, RecvError> {
        self.wait_can_read(timeout)?;
        self.take_one(buffer)
    }

    /// Copies the next message into `buffer`, waiting as long as it
    /// takes; returns its length.
    ///
    /// # Errors
    ///
    /// As [`read_timeout`](Self::read_timeout), without `Timeout`.
    pub fn read_blocking(&mut self, buffer: &mut [u8]) -> Result<usize, RecvError> {
        self.end.wait_for(None)?;
        self.take_one(buffer)
    }

    /// [`read_vec`](Self::read_vec), waiting up to `timeout` for a
    /// message.
    ///
    /// # Errors
    ///
    /// As [`read_timeout`](Self::read_timeout), without `BufferTooSmall`.
    pub fn read_vec_timeout(&mut self, message: &mut Vec<u8>, timeout: Duration) -> Result<(), RecvError> {
        self.wait_can_read(timeout)?;
        self.take_vec(message)
    }

    /// [`read_vec`](Self::read_vec), waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// As [`read_blocking`](Self::read_blocking), without
    /// `BufferTooSmall`.
    pub fn read_vec_blocking(&mut self, message: &mut Vec<u8>) -> Result<(), RecvError> {
        self.end.wait_for(None)?;
        self.take_vec(message)
    }

    /// Waits up to `timeout` until a message is ready. A timeout too long
    /// for the clock is no deadline.
    ///
    /// # Errors
    ///
    /// As [`read_timeout`](Self::read_timeout).
    pub fn wait_can_read(&mut self, timeout: Duration) -> Result<(), RecvError> {
        self.end.wait_for(Instant::now().checked_add(timeout))
    }

    /// Largest message, in bytes: a buffer this long takes any message.
    #[must_use]
    pub fn slot_size(&self) -> usize {
        self.slot
    }

    /// Messages published and not read yet, as the positions are now (at
    /// most the capacity).
    #[must_use]
    pub fn len(&self) -> usize {
        self.end.len()
    }

    /// Whether no message waits to be read.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every message published so far; returns how many.
    ///
    /// # Errors
    ///
    /// [`RecvError::Corrupt`] or [`RecvError::Evicted`] (sticky).
    pub fn skip_all(&mut self) -> Result<u64, RecvError> {
        self.end.skip_all()
    }

    /// Number of messages read or skipped so far: the read position.
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

    /// A blocking iterator: yields each message as it comes (`Ok`, a new
    /// `Vec` each), a lag as `Err(RecvError::Lagged(n))` (and goes on),
    /// ends (`None`) once the publisher let go and every message was read;
    /// any other error is yielded once and ends it.
    pub fn iter(&mut self) -> ByteBroadcastIter<'_> {
        ByteBroadcastIter { subscriber: self, done: false }
    }
}

impl shared_object::sealed::Sealed for ByteSubscriber {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(self.end.side.segment())
    }

    fn into_segment(mut self) -> SegmentOwned {
        SegmentOwned(self.end.take_segment())
    }
}

impl fmt::Debug for ByteSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteSubscriber")
            .field("handle", &self.handle().to_string())
            .field("entry", &self.end.cursor.entry)
            .field("slot_size", &self.slot)
            .field("read_count", &self.read_count())
            .finish_non_exhaustive()
    }
}

/// A sink for [`ByteSubscriber::take_into`] that makes `message` as long
/// as the message (reusing its allocation).
fn into_vec<'b>(message: &'b mut Vec<u8>) -> impl FnOnce(usize) -> Option<&'b mut [u8]> {
    move |len| {
        message.clear();
        message.resize(len, 0);
        Some(message.as_mut_slice())
    }
}

/// Blocking iterator over a byte subscriber's messages, made by
/// [`ByteSubscriber::iter`] or `&mut subscriber` in a `for` loop.
#[derive(Debug)]
pub struct ByteBroadcastIter<'a> {
    subscriber: &'a mut ByteSubscriber,
    done: bool,
}

impl Iterator for ByteBroadcastIter<'_> {
    type Item = Result<Vec<u8>, RecvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut message = Vec::new();
        match self.subscriber.read_vec_blocking(&mut message) {
            Ok(()) => Some(Ok(message)),
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

#[expect(
    clippy::into_iter_without_iter,
    reason = "reading takes messages out, so the method is `iter(&mut self)`, not `iter_mut`"
)]
impl<'a> IntoIterator for &'a mut ByteSubscriber {
    type Item = Result<Vec<u8>, RecvError>;
    type IntoIter = ByteBroadcastIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::broadcast::{ENTRY_WORDS, TABLE_WORD};
    use crate::{Broadcast, Subscriber};
    use core::sync::atomic::Ordering;

    /// Subscribers and the publisher move between threads.
    const _: () = {
        const fn send_sync<S: Send + Sync>() {}
        send_sync::<ByteSubscriber>();
        send_sync::<ByteBroadcast>();
    };

    /// The message of number `k`: its length varies, each byte says `k`.
    fn message(k: u64, slot: usize) -> Vec<u8> {
        let len = usize::try_from(k).unwrap() * 7 % (slot + 1);
        let mut m = vec![(k % 251) as u8; len.max(8)];
        m[..8].copy_from_slice(&k.to_ne_bytes());
        m.truncate(slot.max(8));
        m
    }

    fn check(got: &[u8], slot: usize) -> u64 {
        let k = u64::from_ne_bytes(got[..8].try_into().expect("8 bytes or more"));
        assert_eq!(got, message(k, slot), "message {k} arrived torn or with the wrong length");
        k
    }

    #[test]
    fn every_subscriber_gets_every_message_whole_in_both_policies() {
        const SLOT: usize = 100;
        const MESSAGES: u64 = 5_000;
        for policy in [Policy::Backpressure, Policy::Overwrite] {
            let mut tx = ByteBroadcast::create(SLOT, &BroadcastConfig::new(8, policy)).unwrap();
            let readers: Vec<_> = (0..3)
                .map(|i| {
                    let mut rx = tx.subscribe().unwrap();
                    std::thread::spawn(move || {
                        let (mut seen, mut missed, mut next) = (0u64, 0u64, 0u64);
                        let mut buffer = [0u8; SLOT];
                        let mut vec = Vec::new();
                        loop {
                            let got = if i == 0 {
                                rx.read_blocking(&mut buffer).map(|n| &buffer[..n])
                            } else {
                                rx.read_vec_blocking(&mut vec).map(|()| vec.as_slice())
                            };
                            match got {
                                Ok(m) => {
                                    let k = check(m, SLOT);
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
            for k in 0..MESSAGES {
                tx.publish_blocking(&message(k, SLOT)).unwrap();
            }
            drop(tx);
            for reader in readers {
                let (seen, missed) = reader.join().unwrap();
                assert_eq!(seen + missed, MESSAGES, "{policy:?}");
                if policy == Policy::Backpressure {
                    assert_eq!(missed, 0);
                }
            }
        }
    }

    #[test]
    fn too_large_too_small_and_full_write_and_take_nothing() {
        let mut tx = ByteBroadcast::create(10, &BroadcastConfig::new(2, Policy::Backpressure)).unwrap();
        let mut rx = tx.subscribe().unwrap();
        assert_eq!(tx.publish(&[1; 11]), Err(SendError::TooLarge { len: 11, slot: 10 }));
        let err = tx.publish_blocking(&[1; 11]).unwrap_err();
        assert!(matches!(err, PublishError::TooLarge { len: 11, slot: 10, .. }), "{err}");
        assert_eq!(tx.publish_many(&[&[1u8; 3][..], &[2; 11]]), Err(SendError::TooLarge { len: 11, slot: 10 }));
        assert_eq!(tx.published(), 0, "nothing written");
        assert_eq!(tx.publish_many(&[&b""[..], b"0123456789", b"x"]), Ok(2));
        assert_eq!(tx.publish(b"x"), Err(SendError::Full));
        let err = tx.publish_timeout(b"x", Duration::from_millis(20)).unwrap_err();
        assert!(matches!(err, PublishError::Timeout { .. }), "{err}");
        let mut small = [0u8; 4];
        assert_eq!(rx.read(&mut small), Ok(Some(0)), "an empty message");
        assert_eq!(rx.read(&mut small), Err(RecvError::BufferTooSmall { len: 10, buffer: 4 }));
        let mut vec = vec![9; 50];
        assert_eq!(rx.read_vec(&mut vec), Ok(true), "the message stayed unread");
        assert_eq!(vec, b"0123456789");
        assert_eq!(rx.read_vec(&mut vec), Ok(false));
        assert!(ByteBroadcast::create(0, &BroadcastConfig::new(2, Policy::Overwrite)).is_err());
        assert!(
            ByteBroadcast::create(ByteBroadcast::MAX_SLOT_SIZE + 1, &BroadcastConfig::new(2, Policy::Overwrite))
                .is_err()
        );
    }

    #[test]
    fn a_hostile_length_word_is_corrupt_and_never_read_past_the_slot() {
        for policy in [Policy::Backpressure, Policy::Overwrite] {
            let config = BroadcastConfig::new(2, policy).max_subscribers(1).history(1);
            let mut tx = ByteBroadcast::create(12, &config).unwrap();
            tx.publish(b"hello").unwrap();
            // The first slot's length word, after the table (one entry)
            // and the slot's sequence word. 13 is one past the slot size
            // (the slot has 16 data bytes: a read would stay inside it);
            // u64::MAX would reach far outside.
            let words = tx.end.side.segment().payload().words();
            let length = &words[TABLE_WORD + ENTRY_WORDS + 1];
            assert_eq!(length.load(Ordering::Relaxed), 5);
            for bad in [13, u64::MAX] {
                length.store(bad, Ordering::Relaxed);
                let mut rx = tx.subscribe().unwrap();
                let mut buffer = [0u8; 64];
                let err = rx.read(&mut buffer).unwrap_err();
                let expected = RecvError::Corrupt { name: tx.name().clone(), what: "message length", found: bad };
                assert_eq!(err, expected, "{policy:?}");
                assert_eq!(rx.read(&mut buffer), Err(err), "sticky");
                assert_eq!(buffer, [0; 64], "nothing copied");
                assert_eq!(rx.read_count(), 0, "nothing taken");
                let peek = crate::tools::Peek::open(&tx.handle()).unwrap();
                let err = peek.byte_broadcast().unwrap_err();
                assert!(matches!(err, crate::tools::PeekError::Corrupt { found, .. } if found == bad), "{err}");
                assert!(matches!(peek.broadcast(), Err(crate::tools::PeekError::WrongKind { .. })));
            }
            length.store(5, Ordering::Relaxed);
            let mut message = Vec::new();
            assert_eq!(tx.subscribe().unwrap().read_vec(&mut message), Ok(true));
            assert_eq!(message, b"hello", "nothing written was lost");
        }
    }

    /// Sets its flag when dropped.
    struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_look_at_the_newest_message_is_never_a_mix() {
        // Under backpressure with nobody subscribed the publisher
        // overwrites freely; a tool's look races it.
        for policy in [Policy::Backpressure, Policy::Overwrite] {
            let mut tx = ByteBroadcast::create(64, &BroadcastConfig::new(1, policy)).unwrap();
            let peek = crate::tools::Peek::open(&tx.handle()).unwrap();
            let stop = std::sync::atomic::AtomicBool::new(false);
            let (mut whole, mut replaced) = (0, 0);
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    let mut k = 0u8;
                    while !stop.load(Ordering::Relaxed) {
                        // Message k: 8 + k % 32 bytes, each k.
                        tx.publish(&[k; 40][..8 + usize::from(k % 32)]).unwrap();
                        k = k.wrapping_add(1);
                    }
                });
                // Stops the publisher however this thread leaves the
                // scope (a failed assertion must not hang the test).
                let _stop = StopOnDrop(&stop);
                // At least 20,000 looks, and on until one was whole (a fast
                // publisher may win many races in a row), for up to 10 s.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                let mut looks = 0;
                while looks < 20_000 || (whole == 0 && std::time::Instant::now() < deadline) {
                    looks += 1;
                    match peek.byte_broadcast().unwrap().newest {
                        Some(m) => {
                            let k = m.head[0];
                            assert_eq!(m.len, 8 + u64::from(k % 32), "length of another message");
                            assert!(m.head.iter().all(|b| *b == k), "a mixed message: {m:?}");
                            whole += 1;
                        }
                        None => replaced += 1,
                    }
                }
            });
            assert!(whole > 0, "{policy:?}: {replaced} looks all raced");
        }
    }

    #[test]
    fn overwrite_reports_lags_exactly_and_closes() {
        let mut tx = ByteBroadcast::create(8, &BroadcastConfig::new(4, Policy::Overwrite).history(2)).unwrap();
        tx.publish_many(&["a", "b", "c"]).unwrap();
        let mut late = tx.subscribe().unwrap();
        let mut rx = tx.subscribe().unwrap();
        let mut buffer = [0u8; 8];
        assert_eq!(late.read(&mut buffer), Ok(Some(1)));
        assert_eq!(&buffer[..1], b"b", "history 2 starts at the second newest");
        assert_eq!(tx.publish_many(&["d", "e", "f", "g", "h", "i"]), Ok(6));
        assert_eq!(rx.read(&mut buffer), Err(RecvError::Lagged(4)), "b, c (its history), d and e are gone");
        assert_eq!(late.read(&mut buffer), Err(RecvError::Lagged(3)), "c, d, e are gone");
        let rest: Vec<Vec<u8>> = {
            drop(tx);
            rx.iter().collect::<Result<_, _>>().unwrap()
        };
        assert_eq!(rest, [b"f", b"g", b"h", b"i"]);
        assert_eq!((rx.read_count(), late.read_count()), (9, 5));
        assert!(matches!(late.skip_all(), Ok(4)));
        assert!(matches!(late.read_vec_blocking(&mut Vec::new()), Err(RecvError::Closed { .. })));
    }

    #[test]
    fn kinds_do_not_mix() {
        let tx = ByteBroadcast::create(8, &BroadcastConfig::new(4, Policy::Overwrite)).unwrap();
        let err = Subscriber::<u64>::load_sharedobject(&tx.handle()).unwrap_err();
        assert!(matches!(err, OpenError::KindMismatch { .. }), "{err}");
        let typed = Broadcast::<[u8; 16]>::create(&BroadcastConfig::new(4, Policy::Overwrite)).unwrap();
        let err = ByteSubscriber::load_sharedobject(&typed.handle()).unwrap_err();
        assert!(matches!(err, OpenError::KindMismatch { .. }), "{err}");
        let err = ByteBroadcast::load_sharedobject(&tx.handle()).unwrap_err();
        assert!(matches!(err, OpenError::RoleTaken { role: "publisher", .. }), "{err}");
    }
}
