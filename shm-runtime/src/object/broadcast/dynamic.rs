//! `DynBroadcast` and `DynSubscriber`: the broadcast of `Broadcast<T>`
//! with an item type known at run time. Same segment kind (`broadcast`),
//! same shape words, same ends (`PublisherEnd`, `SubscriberEnd`), same
//! protocol: only the item's length comes from an [`ItemType`] instead of
//! `size_of::<T>()`, as `DynRing` is to `MemoryInterface<T>`.

use super::error::{PublishError, RecvError};
use super::publisher::{Element, PublisherEnd};
use super::subscriber::SubscriberEnd;
use super::{BroadcastConfig, Side, element_fits, open_side, slot_words_for};
use crate::format::header::{Layout, ObjectKind, SchemaRef};
use crate::object::dynamic::ItemType;
use crate::object::ring::PeerState;
use crate::object::shared_object::sealed::{SegmentOwned, SegmentRef};
use crate::object::shared_object::{self, SharedObject};
use crate::protocol::broadcast::Policy;
use crate::segment::Segment;
use crate::segment::error::{CreateError, OpenError, SendError};
use crate::segment::handle::Handle;
use crate::segment::options::OpenOptions;
use core::fmt;
use std::time::{Duration, Instant};

/// A [`Broadcast<T>`](crate::Broadcast) whose item type is an
/// [`ItemType`]: the same segment and kind, so a `Subscriber<Pose>`
/// subscribes to a `DynBroadcast` created with `ItemType::of::<Pose>()`
/// (or with a schema built field by field equal to `Pose`'s), and a
/// [`DynSubscriber`] to a `Broadcast<Pose>`.
///
/// Items are byte slices of exactly [`ItemType::size`] bytes, in the
/// layout the schema describes (native byte order). Everything else is as
/// for `Broadcast<T>`: policies, subscribers, waiting, trust.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::dynamic::{DynBroadcast, DynSubscriber, ItemType};
/// use shm_runtime::{BroadcastConfig, Policy, SharedObject, Subscriber};
///
/// let item = ItemType::of::<[u32; 2]>();
/// let mut tx = DynBroadcast::create(&item, &BroadcastConfig::new(4, Policy::Backpressure))?;
/// // Other processes, knowing only the handle: the type comes from the segment.
/// let mut rx = DynSubscriber::load(&tx.handle(), None, &Default::default())?;
/// let mut typed = Subscriber::<[u32; 2]>::load_sharedobject(&tx.handle())?;
/// assert_eq!(rx.item_type(), &item);
/// tx.publish(&[1, 0, 0, 0, 2, 0, 0, 0])?;
/// let mut out = [0u8; 8];
/// assert!(rx.recv(&mut out)?);
/// assert_eq!(out, [1, 0, 0, 0, 2, 0, 0, 0]);
/// assert_eq!(typed.read()?, Some([1, 2]));
/// assert!(!rx.recv(&mut out)?, "nothing more");
/// # Ok(()) }
/// ```
pub struct DynBroadcast {
    end: PublisherEnd,
    /// The item type; its size matches the slots (checked at create or
    /// open).
    item: ItemType,
}

impl DynBroadcast {
    /// Creates a broadcast of `item` under a generated name and holds its
    /// publisher side; subscribers open it with the
    /// [`handle`](SharedObject::handle).
    ///
    /// # Errors
    ///
    /// As [`Broadcast::create`](crate::Broadcast::create).
    pub fn create(item: &ItemType, config: &BroadcastConfig) -> Result<Self, CreateError> {
        Self::create_at(None, item, config)
    }

    /// Creates a broadcast of `item` under `name` and holds its publisher
    /// side; subscribers may then meet it by name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use shm_runtime::dynamic::{DynBroadcast, ItemType};
    /// use shm_runtime::{BroadcastConfig, Policy, SharedObject, Subscriber};
    /// # let name = format!("shmrs-doc-dynbcast-{}", std::process::id());
    /// let config = BroadcastConfig::new(16, Policy::Overwrite);
    /// let mut tx = DynBroadcast::create_named(&name, &ItemType::of::<u64>(), &config)?;
    /// let mut rx = Subscriber::<u64>::open(&name)?; // a typed subscriber
    /// tx.publish(&7u64.to_ne_bytes())?;
    /// assert_eq!(rx.read()?, Some(7));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create), and those of a name:
    /// [`CreateError::InvalidName`], [`CreateError::AlreadyExists`].
    pub fn create_named(name: &str, item: &ItemType, config: &BroadcastConfig) -> Result<Self, CreateError> {
        Self::create_at(Some(name), item, config)
    }

    fn create_at(name: Option<&str>, item: &ItemType, config: &BroadcastConfig) -> Result<Self, CreateError> {
        // The slot shape `Broadcast<T>` has for a `T` of this size.
        let element = Element {
            kind: ObjectKind::Broadcast,
            layout: item.layout(),
            slot_words: slot_words_for(item.size()),
            bytes: item.size() as u64,
        };
        Ok(Self { end: PublisherEnd::create(name, config, element)?, item: item.clone() })
    }

    /// Opens the broadcast named `name` as its publisher (a successor of a
    /// dead publisher continues where it stopped), with the item type its
    /// segment records, waiting up to
    /// [`DEFAULT_OPEN_WAIT`](crate::DEFAULT_OPEN_WAIT) for it to appear.
    ///
    /// # Errors
    ///
    /// As [`SharedObject::open`]; [`OpenError::RoleTaken`] while a live
    /// publisher holds it; [`OpenError::Corrupt`] for a schema that
    /// disagrees with the slots.
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_by_name(name, None, &OpenOptions::new())
    }

    /// Opens the broadcast named `name` as its publisher, expecting items
    /// of `item`: another type is [`OpenError::LayoutMismatch`].
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`OpenError::LayoutMismatch`].
    pub fn open_as(name: &str, item: &ItemType) -> Result<Self, OpenError> {
        Self::open_by_name(name, Some(item), &OpenOptions::new())
    }

    /// Opens the broadcast named `name` as [`load`](Self::load) opens a
    /// handle, waiting up to `options.wait_time()` in all.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open) and [`open_as`](Self::open_as).
    pub fn open_by_name(name: &str, expected: Option<&ItemType>, options: &OpenOptions) -> Result<Self, OpenError> {
        let (handle, left) = Segment::handle_by_name(name, options.wait_time())?;
        Self::load(&handle, expected, &options.wait(left))
    }

    /// Opens the broadcast `handle` names as its publisher if `options`
    /// accept its owner and mode. With `expected`, the broadcast must hold
    /// that type; without, the item type is the segment's own schema
    /// (which must parse, hash to the fingerprint and fit the slots).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open) and [`open_as`](Self::open_as).
    pub fn load(handle: &Handle, expected: Option<&ItemType>, options: &OpenOptions) -> Result<Self, OpenError> {
        let (side, item) = open_dyn(handle, expected, options)?;
        Ok(Self { end: PublisherEnd::claim(side)?, item })
    }

    /// The item type.
    #[must_use]
    pub fn item_type(&self) -> &ItemType {
        &self.item
    }

    /// Opens the broadcast as a new subscriber with this item type.
    ///
    /// # Errors
    ///
    /// As [`DynSubscriber::load`].
    pub fn subscribe(&self) -> Result<DynSubscriber, OpenError> {
        DynSubscriber::load(&self.handle(), Some(&self.item), &OpenOptions::new())
    }

    /// Whether a `publish` would find room now.
    pub fn can_publish(&mut self) -> bool {
        self.end.free(1) > 0
    }

    /// Publishes `item` (exactly [`ItemType::size`] bytes). Under
    /// backpressure, with no room, returns [`SendError::Full`] and writes
    /// nothing; under overwrite, never waits.
    ///
    /// # Errors
    ///
    /// [`SendError::WrongSize`] for a buffer of another length,
    /// [`SendError::Full`] as above; nothing is written either way.
    #[inline]
    pub fn publish(&mut self, item: &[u8]) -> Result<(), SendError> {
        if item.len() != self.item.size() {
            return Err(SendError::WrongSize { len: item.len(), size: self.item.size() });
        }
        if self.end.free(1) == 0 {
            return Err(SendError::Full);
        }
        self.end.put_and_publish(&[item], |ring, cursor, i, item| ring.put(cursor, i, item));
        Ok(())
    }

    /// Publishes `item`, waiting up to `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`PublishError::WrongSize`] at once for a buffer of another
    /// length; [`PublishError::Timeout`] if no room came in time.
    pub fn publish_timeout(&mut self, item: &[u8], timeout: Duration) -> Result<(), PublishError> {
        self.publish_waiting(item, Instant::now().checked_add(timeout))
    }

    /// Publishes `item`, waiting as long as it takes for room.
    ///
    /// # Errors
    ///
    /// [`PublishError::WrongSize`] for a buffer of another length.
    pub fn publish_blocking(&mut self, item: &[u8]) -> Result<(), PublishError> {
        self.publish_waiting(item, None)
    }

    fn publish_waiting(&mut self, item: &[u8], deadline: Option<Instant>) -> Result<(), PublishError> {
        if item.len() != self.item.size() {
            let name = self.end.side.name().clone();
            return Err(PublishError::WrongSize { name, len: item.len(), size: self.item.size() });
        }
        self.end.wait_for_room(deadline)?;
        self.end.put_and_publish(&[item], |ring, cursor, i, item| ring.put(cursor, i, item));
        Ok(())
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

    /// Number of items published so far (the write position).
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

    /// Subscribers whose read position or entry made no sense.
    #[must_use]
    pub fn corrupt_subscribers(&self) -> u64 {
        self.end.cursor.corrupt
    }
}

impl SharedObject for DynBroadcast {
    /// Opens the broadcast `handle` names as its publisher, with the
    /// segment's own item type (see [`load`](DynBroadcast::load)).
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        Self::load(handle, None, options)
    }
}

impl shared_object::sealed::Sealed for DynBroadcast {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(self.end.side.segment())
    }

    fn into_segment(mut self) -> SegmentOwned {
        SegmentOwned(self.end.take_segment())
    }
}

impl fmt::Debug for DynBroadcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynBroadcast")
            .field("type", &self.item.type_name())
            .field("handle", &self.handle().to_string())
            .field("policy", &self.policy())
            .field("capacity", &self.capacity())
            .field("published", &self.published())
            .finish_non_exhaustive()
    }
}

/// One subscriber of a broadcast whose item type is known at run time:
/// a [`Subscriber<T>`](crate::Subscriber) of an [`ItemType`]. It reads a
/// [`DynBroadcast`]'s items or a `Broadcast<T>`'s of the same type.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use shm_runtime::dynamic::{DynSubscriber, ItemType};
/// use shm_runtime::{Broadcast, BroadcastConfig, OpenError, Policy, RecvError, SharedObject};
///
/// let mut tx = Broadcast::<u16>::create(&BroadcastConfig::new(2, Policy::Overwrite))?;
/// let wrong = DynSubscriber::load(&tx.handle(), Some(&ItemType::of::<i16>()), &Default::default());
/// assert!(matches!(wrong, Err(OpenError::LayoutMismatch { .. })));
/// let mut rx = DynSubscriber::load_sharedobject(&tx.handle())?;
/// tx.publish_slice(&[1, 2, 3]);
/// let mut out = [0u8; 2];
/// assert_eq!(rx.recv(&mut out), Err(RecvError::Lagged(1)));
/// rx.recv_timeout(&mut out, std::time::Duration::from_secs(1))?;
/// assert_eq!(u16::from_ne_bytes(out), 2);
/// # Ok(()) }
/// ```
pub struct DynSubscriber {
    end: SubscriberEnd,
    item: ItemType,
}

impl DynSubscriber {
    /// Subscribes to the broadcast named `name`, with the item type its
    /// segment records, waiting up to
    /// [`DEFAULT_OPEN_WAIT`](crate::DEFAULT_OPEN_WAIT) for it to appear.
    ///
    /// # Errors
    ///
    /// As [`SharedObject::open`]; [`OpenError::RoleTaken`] when every
    /// table entry is held by a live subscriber; [`OpenError::Corrupt`]
    /// for a schema that disagrees with the slots.
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_by_name(name, None, &OpenOptions::new())
    }

    /// Subscribes to the broadcast named `name`, expecting items of
    /// `item`: another type is [`OpenError::LayoutMismatch`].
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`OpenError::LayoutMismatch`].
    pub fn open_as(name: &str, item: &ItemType) -> Result<Self, OpenError> {
        Self::open_by_name(name, Some(item), &OpenOptions::new())
    }

    /// Subscribes to the broadcast named `name` as [`load`](Self::load)
    /// does to a handle, waiting up to `options.wait_time()` in all.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open) and [`open_as`](Self::open_as).
    pub fn open_by_name(name: &str, expected: Option<&ItemType>, options: &OpenOptions) -> Result<Self, OpenError> {
        let (handle, left) = Segment::handle_by_name(name, options.wait_time())?;
        Self::load(&handle, expected, &options.wait(left))
    }

    /// Subscribes to the broadcast `handle` names if `options` accept its
    /// owner and mode. With `expected`, the broadcast must hold that
    /// type; without, the item type is the segment's own schema.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open) and [`open_as`](Self::open_as).
    pub fn load(handle: &Handle, expected: Option<&ItemType>, options: &OpenOptions) -> Result<Self, OpenError> {
        let (side, item) = open_dyn(handle, expected, options)?;
        Ok(Self { end: SubscriberEnd::join(side)?, item })
    }

    /// The item type.
    #[must_use]
    pub fn item_type(&self) -> &ItemType {
        &self.item
    }

    /// Copies the next item into `out` (exactly [`ItemType::size`] bytes);
    /// `Ok(false)` if none is ready.
    ///
    /// # Errors
    ///
    /// [`RecvError::WrongSize`] for a buffer of another length; otherwise
    /// as [`Subscriber::read`](crate::Subscriber::read).
    #[inline]
    pub fn recv(&mut self, out: &mut [u8]) -> Result<bool, RecvError> {
        self.check_size(out)?;
        if self.end.ready(1)? == 0 {
            return Ok(false);
        }
        self.take_one(out).map(|()| true)
    }

    /// Copies the next item into `out`, waiting up to `timeout` for one.
    ///
    /// # Errors
    ///
    /// [`RecvError::WrongSize`]; otherwise as
    /// [`Subscriber::read_timeout`](crate::Subscriber::read_timeout).
    pub fn recv_timeout(&mut self, out: &mut [u8], timeout: Duration) -> Result<(), RecvError> {
        self.check_size(out)?;
        self.end.wait_for(Instant::now().checked_add(timeout))?;
        self.take_one(out)
    }

    /// Copies the next item into `out`, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`RecvError::WrongSize`]; otherwise as
    /// [`Subscriber::read_blocking`](crate::Subscriber::read_blocking).
    pub fn recv_blocking(&mut self, out: &mut [u8]) -> Result<(), RecvError> {
        self.check_size(out)?;
        self.end.wait_for(None)?;
        self.take_one(out)
    }

    fn check_size(&self, out: &[u8]) -> Result<(), RecvError> {
        if out.len() == self.item.size() {
            return Ok(());
        }
        Err(RecvError::WrongSize { name: self.end.side.name().clone(), len: out.len(), size: self.item.size() })
    }

    /// Copies the next item (the caller checked it is ready and `out`'s
    /// size) and moves past it.
    #[inline]
    fn take_one(&mut self, out: &mut [u8]) -> Result<(), RecvError> {
        if !self.end.side.ring().get(&self.end.cursor, 0, out) {
            return Err(self.end.overwritten());
        }
        self.end.advance(1);
        Ok(())
    }

    /// Items published and not read yet (at most the capacity).
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

    /// Number of items read or skipped so far: the read position.
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
}

impl SharedObject for DynSubscriber {
    /// Subscribes to the broadcast `handle` names, with the segment's own
    /// item type (see [`load`](DynSubscriber::load)).
    fn load_sharedobject_with(handle: &Handle, options: &OpenOptions) -> Result<Self, OpenError> {
        Self::load(handle, None, options)
    }
}

impl shared_object::sealed::Sealed for DynSubscriber {
    fn segment(&self) -> SegmentRef<'_> {
        SegmentRef(self.end.side.segment())
    }

    fn into_segment(mut self) -> SegmentOwned {
        SegmentOwned(self.end.take_segment())
    }
}

impl fmt::Debug for DynSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynSubscriber")
            .field("type", &self.item.type_name())
            .field("handle", &self.handle().to_string())
            .field("entry", &self.end.cursor.entry)
            .field("read_count", &self.read_count())
            .finish_non_exhaustive()
    }
}

/// Opens the broadcast `handle` names for `expected` items, or for the
/// item type its segment records (checked against the slots).
fn open_dyn(
    handle: &Handle,
    expected: Option<&ItemType>,
    options: &OpenOptions,
) -> Result<(Side, ItemType), OpenError> {
    let stored =
        Layout { fingerprint: handle.fingerprint(), type_name: "the segment's type", schema: SchemaRef::Stored };
    let layout = expected.map_or(stored, ItemType::layout);
    let mut found = None;
    let side = open_side(handle, options, ObjectKind::Broadcast, layout, |shape, segment| {
        let item = match expected {
            Some(item) => Some(item.clone()),
            // The schema was parsed and checked against the fingerprint
            // when the segment was opened; its size is untrusted until it
            // fits the slots.
            None => {
                segment.schema().ok().and_then(|schema| ItemType::stored(segment.header().type_name(), schema).ok())
            }
        };
        found = item.filter(|item| element_fits(shape, item.size()));
        found.is_some()
    })?;
    let item = found.expect("open_side succeeds only if the item fit the slots");
    Ok((side, item))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Broadcast, Subscriber};

    const _: () = {
        const fn send_sync<S: Send + Sync>() {}
        send_sync::<DynSubscriber>();
        send_sync::<DynBroadcast>();
    };

    #[test]
    fn typed_and_dynamic_ends_meet_both_ways() {
        let item = ItemType::of::<[u64; 3]>();
        for policy in [Policy::Backpressure, Policy::Overwrite] {
            let config = BroadcastConfig::new(4, policy);
            let mut tx = DynBroadcast::create(&item, &config).unwrap();
            let mut typed = Subscriber::<[u64; 3]>::load_sharedobject(&tx.handle()).unwrap();
            let mut stored = DynSubscriber::load_sharedobject(&tx.handle()).unwrap();
            let mut same = tx.subscribe().unwrap();
            assert_eq!(stored.item_type().fingerprint(), item.fingerprint());
            let bytes = |v: [u64; 3]| v.iter().flat_map(|w| w.to_ne_bytes()).collect::<Vec<u8>>();
            tx.publish(&bytes([1, 2, 3])).unwrap();
            tx.publish_timeout(&bytes([4, 5, 6]), Duration::from_millis(10)).unwrap();
            assert_eq!(typed.read(), Ok(Some([1, 2, 3])));
            let mut out = [0u8; 24];
            for rx in [&mut stored, &mut same] {
                assert_eq!(rx.recv(&mut out), Ok(true));
                assert_eq!(out[..], bytes([1, 2, 3]));
                rx.recv_blocking(&mut out).unwrap();
                assert_eq!(out[..], bytes([4, 5, 6]));
                assert_eq!(rx.recv(&mut out), Ok(false));
            }
            // The other way: a typed publisher, a dynamic subscriber.
            let mut typed_tx = Broadcast::<[u64; 3]>::create(&config).unwrap();
            let mut rx = DynSubscriber::load(&typed_tx.handle(), Some(&item), &OpenOptions::new()).unwrap();
            typed_tx.publish(&[7, 8, 9]).unwrap();
            rx.recv_timeout(&mut out, Duration::from_secs(1)).unwrap();
            assert_eq!(out[..], bytes([7, 8, 9]));
            drop(typed_tx);
            assert!(matches!(rx.recv_blocking(&mut out), Err(RecvError::Closed { .. })));
        }
    }

    #[test]
    fn wrong_sizes_and_types_are_refused() {
        let item = ItemType::of::<u32>();
        let mut tx = DynBroadcast::create(&item, &BroadcastConfig::new(2, Policy::Backpressure)).unwrap();
        let mut rx = tx.subscribe().unwrap();
        assert_eq!(tx.publish(&[0; 5]), Err(SendError::WrongSize { len: 5, size: 4 }));
        let err = tx.publish_blocking(&[0; 3]).unwrap_err();
        assert!(matches!(err, PublishError::WrongSize { len: 3, size: 4, .. }), "{err}");
        assert_eq!(tx.published(), 0);
        tx.publish(&[1, 0, 0, 0]).unwrap();
        let err = rx.recv(&mut [0; 8]).unwrap_err();
        assert!(matches!(err, RecvError::WrongSize { len: 8, size: 4, .. }), "{err}");
        assert_eq!(rx.len(), 1, "nothing was read");
        let err = DynSubscriber::load(&tx.handle(), Some(&ItemType::of::<i32>()), &OpenOptions::new()).unwrap_err();
        assert!(matches!(err, OpenError::LayoutMismatch { .. }), "{err}");
        let err = Subscriber::<f32>::load_sharedobject(&tx.handle()).unwrap_err();
        assert!(matches!(err, OpenError::LayoutMismatch { .. }), "{err}");
        let err = DynBroadcast::load_sharedobject(&tx.handle()).unwrap_err();
        assert!(matches!(err, OpenError::RoleTaken { role: "publisher", .. }), "{err}");
        let bytes = crate::ByteBroadcast::create(8, &BroadcastConfig::new(2, Policy::Overwrite)).unwrap();
        let err = DynSubscriber::load_sharedobject(&bytes.handle()).unwrap_err();
        assert!(matches!(err, OpenError::KindMismatch { .. }), "{err}");
    }
}
