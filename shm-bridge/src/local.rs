//! The local objects a bridge reads from (`out`) and writes into (`in`),
//! whatever their kind, behind one interface.

use crate::wire::{Description, HEARTBEAT};
use shm_runtime::dynamic::{DynBroadcast, DynRing, DynShared, DynSubscriber, ItemType};
use shm_runtime::tools::{Peek, inspect_segment};
use shm_runtime::{
    BroadcastConfig, ByteRing, Consumer, ObjectKind, Policy, Producer, PublishError, RecvError, RingError, SendError,
    SharedBool, SharedBytes, SharedInt, SharedObject, SharedString,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a value object's unchanged value is sent again, so that a
/// receiver that starts late (or restarts) gets it.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);

/// How long one wait lasts before the loops look at the shutdown flag.
pub const POLL: Duration = Duration::from_millis(100);

/// The kind, sizes, type name and schema of the segment called `name`,
/// read without claiming anything.
pub fn describe(name: &str) -> Result<Description, String> {
    let info = inspect_segment(name).map_err(|e| format!("{name}: {e}"))?;
    let handle = info.handle().ok_or_else(|| format!("segment {name:?} has no usable header ({})", info.status))?;
    let peek = Peek::open(&handle).map_err(|e| e.to_string())?;
    let schema = peek.schema().map_err(|e| e.to_string())?.clone();
    let header = peek.header();
    let type_name = header.type_name().unwrap_or("?").to_owned();
    let kind = peek.kind();
    let (size, capacity) = match kind {
        ObjectKind::ByteRing | ObjectKind::Ring => {
            let ring = peek.ring().map_err(|e| e.to_string())?;
            (ring.slot_bytes, ring.capacity)
        }
        ObjectKind::Broadcast => {
            let broadcast = peek.broadcast().map_err(|e| e.to_string())?;
            (broadcast.element_bytes, broadcast.capacity)
        }
        ObjectKind::String | ObjectKind::Bytes | ObjectKind::State => (handle.payload_size(), 0),
        _ => (schema.size().unwrap_or(0), 0),
    };
    Ok(Description { kind, size, capacity, type_name, schema })
}

/// What a source yields.
pub enum Next {
    /// An item or a value, now in the buffer, with its positions and
    /// flags for the wire header.
    Item {
        /// Read position before, or version.
        start: u64,
        /// Read position after, or version.
        end: u64,
        /// Wire flags.
        flags: u8,
    },
    /// Nothing within the wait.
    Idle,
    /// The source is finished: a ring whose producer let go, drained.
    Ended,
}

/// A local object read by `out`.
pub enum Source {
    /// A byte ring, as its consumer; the peek reads its positions; the
    /// position where the last whole message read ended (`None` before
    /// the first).
    ByteRing(ByteRing<Consumer>, Box<Peek>, Option<u64>),
    /// A ring of any `SharedState` type, as its consumer; the item's
    /// bytes.
    Ring(DynRing<Consumer>, usize),
    /// A `Shared<T>` of any type; the value's bytes.
    State(DynShared, usize),
    /// A broadcast of any `SharedState` type, as one more subscriber; the
    /// item's bytes.
    Broadcast(DynSubscriber, usize),
    /// An integer.
    Int(SharedInt),
    /// A flag.
    Bool(SharedBool),
    /// Text.
    Text(SharedString),
    /// Bytes.
    Bytes(SharedBytes),
}

/// A value object's last sent version and when it was sent.
#[derive(Default)]
pub struct Sent {
    version: Option<u64>,
    at: Option<Instant>,
}

impl Source {
    /// Attaches to `name` (as the consumer of a ring), with its
    /// description and nonce.
    pub fn open(name: &str) -> Result<(Self, Description, u64), String> {
        let description = describe(name)?;
        let opened = |e: shm_runtime::OpenError| e.to_string();
        let source = match description.kind {
            ObjectKind::ByteRing => {
                let ring = ByteRing::<Consumer>::open(name).map_err(opened)?;
                let peek = Peek::open(&ring.handle()).map_err(opened)?;
                Self::ByteRing(ring, Box::new(peek), None)
            }
            ObjectKind::Ring => {
                let ring = DynRing::<Consumer>::open(name).map_err(opened)?;
                let size = ring.item_type().size();
                Self::Ring(ring, size)
            }
            ObjectKind::Broadcast => {
                let subscriber = DynSubscriber::open(name).map_err(opened)?;
                let size = subscriber.item_type().size();
                Self::Broadcast(subscriber, size)
            }
            ObjectKind::State => {
                let value = DynShared::open(name).map_err(opened)?;
                let size = value.item_type().size();
                Self::State(value, size)
            }
            ObjectKind::Int => Self::Int(SharedInt::open(name).map_err(opened)?),
            ObjectKind::Bool => Self::Bool(SharedBool::open(name).map_err(opened)?),
            ObjectKind::String => Self::Text(SharedString::open(name).map_err(opened)?),
            ObjectKind::Bytes => Self::Bytes(SharedBytes::open(name).map_err(opened)?),
            other => {
                return Err(format!(
                    "segment {name:?} is a {other}: this bridge carries rings, byte rings, broadcasts and value objects"
                ));
            }
        };
        let nonce = source.handle().nonce();
        Ok((source, description, nonce))
    }

    fn handle(&self) -> shm_runtime::Handle {
        match self {
            Self::ByteRing(r, ..) => r.handle(),
            Self::Ring(r, _) => r.handle(),
            Self::State(o, _) => o.handle(),
            Self::Broadcast(o, _) => o.handle(),
            Self::Int(o) => o.handle(),
            Self::Bool(o) => o.handle(),
            Self::Text(o) => o.handle(),
            Self::Bytes(o) => o.handle(),
        }
    }

    /// Waits up to [`POLL`] for the next item or a changed value and
    /// copies it into `buf` (replacing what it held).
    pub fn next(&mut self, buf: &mut Vec<u8>, sent: &mut Sent) -> Result<Next, String> {
        match self {
            Self::ByteRing(ring, peek, last_end) => {
                // This end is the ring's only consumer: a message starts
                // where the last one ended (fragments of it taken by an
                // earlier read that found it unfinished included).
                let before = byte_ring_start(peek, *last_end)?;
                match ring.read_timeout(buf, POLL) {
                    Ok(()) => {
                        let after = peek.ring().map_err(|e| e.to_string())?.read_position;
                        *last_end = Some(after);
                        Ok(Next::Item { start: before, end: after, flags: 0 })
                    }
                    Err(RingError::Timeout { .. } | RingError::PeerDead { .. }) => Ok(Next::Idle),
                    Err(RingError::Closed { .. }) => Ok(Next::Ended),
                    Err(e) => Err(e.to_string()),
                }
            }
            Self::Ring(ring, size) => {
                buf.resize(*size, 0);
                // The ring's only consumer: the count before the read is
                // the item's position.
                let before = ring.read_count();
                match ring.read_timeout(buf, POLL) {
                    Ok(()) => Ok(Next::Item { start: before, end: ring.read_count(), flags: 0 }),
                    Err(RingError::Timeout { .. } | RingError::PeerDead { .. }) => Ok(Next::Idle),
                    Err(RingError::Closed { .. }) => Ok(Next::Ended),
                    Err(e) => Err(e.to_string()),
                }
            }
            Self::Broadcast(subscriber, size) => {
                buf.resize(*size, 0);
                // A lagging subscriber's count jumps over what it missed
                // (overwrite policy): the receiver sees a gap there.
                let before = subscriber.read_count();
                match subscriber.recv_timeout(buf, POLL) {
                    Ok(()) => Ok(Next::Item { start: before, end: subscriber.read_count(), flags: 0 }),
                    Err(RecvError::Timeout { .. } | RecvError::PeerDead { .. } | RecvError::Lagged(_)) => {
                        Ok(Next::Idle)
                    }
                    Err(RecvError::Closed { .. }) => Ok(Next::Ended),
                    Err(e) => Err(e.to_string()),
                }
            }
            value => value.next_value(buf, sent),
        }
    }

    /// Takes the next ring or broadcast item into `buf` if one is
    /// already there, never waiting: its start and end positions, or
    /// `None` (nothing there, a value object, or a lagging subscriber,
    /// whose next item's positions jump).
    pub fn try_next(&mut self, buf: &mut Vec<u8>) -> Result<Option<(u64, u64)>, String> {
        match self {
            Self::ByteRing(ring, peek, last_end) => {
                let before = byte_ring_start(peek, *last_end)?;
                if !ring.read(buf).map_err(|e| e.to_string())? {
                    return Ok(None);
                }
                let after = peek.ring().map_err(|e| e.to_string())?.read_position;
                *last_end = Some(after);
                Ok(Some((before, after)))
            }
            Self::Ring(ring, size) => {
                buf.resize(*size, 0);
                let before = ring.read_count();
                Ok(ring.read(buf).map_err(|e| e.to_string())?.then(|| (before, ring.read_count())))
            }
            Self::Broadcast(subscriber, size) => {
                buf.resize(*size, 0);
                let before = subscriber.read_count();
                match subscriber.recv(buf) {
                    Ok(true) => Ok(Some((before, subscriber.read_count()))),
                    Ok(false) | Err(RecvError::Lagged(_) | RecvError::PeerDead { .. } | RecvError::Closed { .. }) => {
                        Ok(None)
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            _ => Ok(None),
        }
    }

    fn next_value(&self, buf: &mut Vec<u8>, sent: &mut Sent) -> Result<Next, String> {
        buf.clear();
        let version = self.version();
        let changed = match sent.version {
            None => Some(version),
            Some(v) if v != version => Some(version),
            Some(v) => self.wait_changed(v),
        };
        let flags = match changed {
            Some(_) => 0,
            None if sent.at.is_none_or(|at| at.elapsed() >= HEARTBEAT_EVERY) => HEARTBEAT,
            None => return Ok(Next::Idle),
        };
        // The version first, then the value: a write in between is seen
        // by the next call (its version differs), never missed.
        let version = self.version();
        match self {
            Self::Int(o) => buf.extend_from_slice(&o.read().to_le_bytes()),
            Self::Bool(o) => buf.push(u8::from(o.read())),
            Self::Text(o) => buf.extend_from_slice(o.read().map_err(|e| e.to_string())?.as_bytes()),
            Self::Bytes(o) => buf.extend_from_slice(&o.read().map_err(|e| e.to_string())?),
            Self::State(o, size) => {
                buf.resize(*size, 0);
                o.read(buf).map_err(|e| e.to_string())?;
            }
            Self::ByteRing(..) | Self::Ring(..) | Self::Broadcast(..) => unreachable!("streams are read in `next`"),
        }
        sent.version = Some(version);
        sent.at = Some(Instant::now());
        Ok(Next::Item { start: version, end: version, flags })
    }

    fn version(&self) -> u64 {
        match self {
            Self::Int(o) => o.version(),
            Self::Bool(o) => o.version(),
            Self::Text(o) => o.version(),
            Self::Bytes(o) => o.version(),
            Self::State(o, _) => o.version(),
            Self::ByteRing(..) | Self::Ring(..) | Self::Broadcast(..) => 0,
        }
    }

    fn wait_changed(&self, since: u64) -> Option<u64> {
        match self {
            Self::Int(o) => o.wait_changed(since, POLL),
            Self::Bool(o) => o.wait_changed(since, POLL),
            Self::Text(o) => o.wait_changed(since, POLL),
            Self::Bytes(o) => o.wait_changed(since, POLL),
            Self::State(o, _) => o.wait_changed(since, POLL),
            Self::ByteRing(..) | Self::Ring(..) | Self::Broadcast(..) => None,
        }
    }
}

/// Where the next message of a byte ring starts: where the last one
/// ended, or before the first, the consumer's read position now.
fn byte_ring_start(peek: &Peek, last_end: Option<u64>) -> Result<u64, String> {
    match last_end {
        Some(end) => Ok(end),
        None => Ok(peek.ring().map_err(|e| e.to_string())?.read_position),
    }
}

/// What became of an item given to a sink.
#[derive(Debug, PartialEq, Eq)]
pub enum Put {
    /// Written.
    Written,
    /// Dropped: the ring was full in drop mode.
    Dropped,
    /// Not written: shutdown was asked while waiting for room.
    Stopped,
    /// Not written: the payload is no value of the object's type (a
    /// garbage sample), for the reason given.
    Refused(String),
}

/// An item's bytes as `in` got them: whole, or in the pieces of a sample
/// Zenoh delivered fragmented (not assembled into one buffer).
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    /// One slice.
    Whole(&'a [u8]),
    /// The pieces, in order; their concatenation is the item.
    Pieces(&'a [&'a [u8]]),
}

impl Body<'_> {
    /// Bytes in all.
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            Self::Whole(bytes) => bytes.len(),
            Self::Pieces(pieces) => pieces.iter().map(|p| p.len()).sum(),
        }
    }

    /// Whether it holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A local object written by `in`.
pub enum Sink {
    /// A byte ring, as its producer.
    ByteRing(ByteRing<Producer>),
    /// A ring of any `SharedState` type, as its producer.
    Ring(DynRing<Producer>),
    /// A `Shared<T>` of any type.
    State(DynShared),
    /// A broadcast of any `SharedState` type, as its publisher.
    Broadcast(DynBroadcast),
    /// An integer.
    Int(SharedInt),
    /// A flag.
    Bool(SharedBool),
    /// Text.
    Text(SharedString),
    /// Bytes.
    Bytes(SharedBytes),
}

/// Why a local object cannot take a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl Sink {
    /// Opens `name` (as the producer of a ring) if it exists, else creates
    /// it when `create` says so (`Some(capacity)`, used by rings), shaped
    /// like the remote source. An existing object whose kind or layout
    /// differs from the remote's is refused, naming the difference.
    pub fn open_or_create(name: &str, create: Option<u64>, remote: &Description) -> Result<Self, Refused> {
        let exists = inspect_segment(name).is_ok_and(|info| info.handle().is_some());
        if exists {
            let local = describe(name).map_err(Refused)?;
            check_layout(name, &local, remote)?;
            return Self::open(name, remote.kind).map_err(Refused);
        }
        let Some(capacity) = create else {
            return Err(Refused(format!("no object {name:?} here (pass --create CAPACITY to make one)")));
        };
        let size = usize::try_from(remote.size).map_err(|_| Refused(format!("size {} too large", remote.size)))?;
        let capacity = usize::try_from(capacity).map_err(|_| Refused(format!("capacity {capacity} too large")))?;
        let made = match remote.kind {
            ObjectKind::ByteRing => ByteRing::<Producer>::create_named(name, size, capacity).map(Self::ByteRing),
            ObjectKind::Ring => DynRing::<Producer>::create_named(name, &item_type(remote)?, capacity).map(Self::Ring),
            ObjectKind::Broadcast => {
                // Backpressure: the far side's subscribers lose nothing
                // (a slow one holds the bridge back, and so the sender).
                let config = BroadcastConfig::new(capacity, Policy::Backpressure);
                DynBroadcast::create_named(name, &item_type(remote)?, &config).map(Self::Broadcast)
            }
            ObjectKind::State => {
                let item = item_type(remote)?;
                DynShared::create_named(name, &item, &vec![0; item.size()]).map(Self::State)
            }
            ObjectKind::Int => SharedInt::create_named(name, 0).map(Self::Int),
            ObjectKind::Bool => SharedBool::create_named(name, false).map(Self::Bool),
            ObjectKind::String => SharedString::create_named(name, size).map(Self::Text),
            ObjectKind::Bytes => SharedBytes::create_named(name, size).map(Self::Bytes),
            other => return Err(Refused(format!("the remote source is a {other}, which this bridge cannot write"))),
        };
        made.map_err(|e| Refused(e.to_string()))
    }

    fn open(name: &str, kind: ObjectKind) -> Result<Self, String> {
        // The layout was compared with the remote's by the caller; the
        // typed opens below check the segment against itself.
        let opened = |e: shm_runtime::OpenError| e.to_string();
        Ok(match kind {
            ObjectKind::ByteRing => Self::ByteRing(ByteRing::<Producer>::open(name).map_err(opened)?),
            ObjectKind::Ring => Self::Ring(DynRing::<Producer>::open(name).map_err(opened)?),
            ObjectKind::State => Self::State(DynShared::open(name).map_err(opened)?),
            ObjectKind::Broadcast => Self::Broadcast(DynBroadcast::open(name).map_err(opened)?),
            ObjectKind::Int => Self::Int(SharedInt::open(name).map_err(opened)?),
            ObjectKind::Bool => Self::Bool(SharedBool::open(name).map_err(opened)?),
            ObjectKind::String => Self::Text(SharedString::open(name).map_err(opened)?),
            ObjectKind::Bytes => Self::Bytes(SharedBytes::open(name).map_err(opened)?),
            other => return Err(format!("the remote source is a {other}, which this bridge cannot write")),
        })
    }

    /// Writes one item or value given whole or in pieces, as
    /// [`put`](Self::put). Pieces that fit a byte ring's slot are written
    /// into it with `write_parts`, one copy from each piece to the slot;
    /// anything else is put together first and written as one slice.
    #[inline]
    pub fn put_body(&mut self, body: Body<'_>, drop_when_full: bool, stop: &AtomicBool) -> Result<Put, String> {
        let pieces = match body {
            Body::Whole(bytes) => return self.put(bytes, drop_when_full, stop),
            Body::Pieces(pieces) => pieces,
        };
        let Self::ByteRing(ring) = &mut *self else {
            return self.put(&pieces.concat(), drop_when_full, stop);
        };
        if body.len() > ring.slot_size() {
            return self.put(&pieces.concat(), drop_when_full, stop);
        }
        // As `put`'s byte ring: in drop mode a full ring (or a dead
        // consumer's) drops the item; else wait for room, looking at
        // `stop` every POLL, and keep the item while the consumer is dead.
        loop {
            match ring.write_parts(pieces) {
                Ok(()) => return Ok(Put::Written),
                Err(SendError::Full | SendError::PeerDead { .. }) if drop_when_full => return Ok(Put::Dropped),
                Err(SendError::Full | SendError::PeerDead { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
            match ring.wait_writable(POLL) {
                Ok(()) => {}
                Err(RingError::Timeout { .. } | RingError::PeerDead { .. }) => {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(Put::Stopped);
                    }
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Writes one item or value. A ring that is full waits for room
    /// (backpressure: the subscriber stops taking samples, and Zenoh's
    /// blocking congestion control holds the sender), looking at `stop`
    /// every [`POLL`]; in drop mode a full ring drops the item.
    pub fn put(&mut self, payload: &[u8], drop_when_full: bool, stop: &AtomicBool) -> Result<Put, String> {
        match self {
            Self::ByteRing(ring) => {
                if payload.len() > ring.slot_size() {
                    // Longer than a local slot: split over slots (the
                    // consumer gets it back whole).
                    return loop {
                        match ring.write_partial(payload, POLL) {
                            Ok(()) => break Ok(Put::Written),
                            Err(RingError::Timeout { .. }) if drop_when_full => break Ok(Put::Dropped),
                            Err(RingError::Timeout { .. }) if !stop.load(Ordering::Relaxed) => {}
                            Err(RingError::Timeout { .. }) => break Ok(Put::Stopped),
                            Err(e) => break Err(e.to_string()),
                        }
                    };
                }
                if drop_when_full {
                    return match ring.write(payload) {
                        Ok(()) => Ok(Put::Written),
                        Err(SendError::Full | SendError::PeerDead { .. }) => Ok(Put::Dropped),
                        Err(e) => Err(e.to_string()),
                    };
                }
                loop {
                    match ring.write_timeout(payload, POLL) {
                        Ok(()) => return Ok(Put::Written),
                        // A dead consumer: another may attach; keep the
                        // item until one does, or until shutdown.
                        Err(RingError::Timeout { .. } | RingError::PeerDead { .. }) => {
                            if stop.load(Ordering::Relaxed) {
                                return Ok(Put::Stopped);
                            }
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }
            Self::Ring(ring) => put_ring(ring, payload, drop_when_full, stop),
            Self::Broadcast(b) => put_broadcast(b, payload, drop_when_full, stop),
            Self::State(o) => {
                let size = o.item_type().size();
                if payload.len() != size {
                    return Ok(Put::Refused(format!("a value of {} bytes, not {size}", payload.len())));
                }
                Ok(o.write(payload).map_or_else(|e| Put::Refused(e.to_string()), |()| Put::Written))
            }
            Self::Int(o) => {
                let Ok(bytes) = <[u8; 8]>::try_from(payload) else {
                    return Ok(Put::Refused(format!("an int value of {} bytes, not 8", payload.len())));
                };
                o.write(i64::from_le_bytes(bytes));
                Ok(Put::Written)
            }
            Self::Bool(o) => match payload {
                [0] => {
                    o.write(false);
                    Ok(Put::Written)
                }
                [1] => {
                    o.write(true);
                    Ok(Put::Written)
                }
                _ => Ok(Put::Refused(format!("a bool value of {payload:02x?}, not one byte 0 or 1"))),
            },
            Self::Text(o) => {
                let Ok(text) = std::str::from_utf8(payload) else {
                    return Ok(Put::Refused("a string value that is not UTF-8".to_owned()));
                };
                Ok(o.write(text).map_or_else(|e| Put::Refused(e.to_string()), |()| Put::Written))
            }
            Self::Bytes(o) => Ok(o.write(payload).map_or_else(|e| Put::Refused(e.to_string()), |()| Put::Written)),
        }
    }
}

/// Writes an item into a typed ring: waits for room (looking at `stop`),
/// or drops it when full in drop mode.
fn put_ring(
    ring: &mut DynRing<Producer>,
    payload: &[u8],
    drop_when_full: bool,
    stop: &AtomicBool,
) -> Result<Put, String> {
    let size = ring.item_type().size();
    if payload.len() != size {
        return Ok(Put::Refused(format!("an item of {} bytes, not {size}", payload.len())));
    }
    if drop_when_full {
        return match ring.write(payload) {
            Ok(()) => Ok(Put::Written),
            Err(SendError::Full | SendError::PeerDead { .. }) => Ok(Put::Dropped),
            Err(e) => Err(e.to_string()),
        };
    }
    loop {
        match ring.write_timeout(payload, POLL) {
            Ok(()) => return Ok(Put::Written),
            Err(RingError::Timeout { .. } | RingError::PeerDead { .. }) => {
                if stop.load(Ordering::Relaxed) {
                    return Ok(Put::Stopped);
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Publishes an item on a broadcast: waits for room (looking at `stop`),
/// or drops it when full in drop mode.
fn put_broadcast(b: &mut DynBroadcast, payload: &[u8], drop_when_full: bool, stop: &AtomicBool) -> Result<Put, String> {
    let size = b.item_type().size();
    if payload.len() != size {
        return Ok(Put::Refused(format!("an item of {} bytes, not {size}", payload.len())));
    }
    if drop_when_full {
        return match b.publish(payload) {
            Ok(()) => Ok(Put::Written),
            Err(SendError::Full | SendError::PeerDead { .. }) => Ok(Put::Dropped),
            Err(e) => Err(e.to_string()),
        };
    }
    loop {
        match b.publish_timeout(payload, POLL) {
            Ok(()) => return Ok(Put::Written),
            Err(PublishError::Timeout { .. }) if !stop.load(Ordering::Relaxed) => {}
            Err(PublishError::Timeout { .. }) => return Ok(Put::Stopped),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The remote's item type, to create a local object of it.
fn item_type(remote: &Description) -> Result<ItemType, Refused> {
    ItemType::new(&remote.type_name, remote.schema.clone()).map_err(|e| Refused(format!("the remote type: {e}")))
}

/// Refuses a local object whose kind or layout is not the remote's,
/// naming the first difference (`Schema::difference`).
pub fn check_layout(name: &str, local: &Description, remote: &Description) -> Result<(), Refused> {
    if local.kind != remote.kind {
        return Err(Refused(format!(
            "layout mismatch: {name:?} here is a {}, the remote source is a {}",
            local.kind, remote.kind
        )));
    }
    if let Some(diff) = local.schema.difference(&remote.schema) {
        return Err(Refused(format!(
            "layout mismatch: {name:?} holds `{}`, the remote source `{}`: {}",
            local.type_name,
            remote.type_name,
            diff.to_string().replace("in the segment", "at the remote source")
        )));
    }
    Ok(())
}
