//! The errors of a broadcast's two sides: [`RecvError`] for a
//! subscriber's reads, [`PublishError`] for the publisher's waiting
//! writes.

use crate::segment::name::SegmentName;
use core::fmt;
use std::time::Duration;

/// Why a [`Subscriber`](crate::Subscriber) read returned no item.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvError {
    /// The subscriber fell behind and the publisher (overwrite policy)
    /// replaced this many items before it read them. The next read
    /// continues from the oldest item still there; the items read plus
    /// the items reported here are every item published since the
    /// subscriber joined.
    Lagged(u64),
    /// No item came within the time asked.
    Timeout {
        /// The broadcast.
        name: SegmentName,
        /// How long the call waited.
        waited: Duration,
    },
    /// The publisher let go (dropped its end), and everything it published
    /// has been read.
    Closed {
        /// The broadcast.
        name: SegmentName,
    },
    /// The publisher's process died; everything it published before
    /// dying has been read.
    PeerDead {
        /// The broadcast.
        name: SegmentName,
        /// Its process id.
        pid: u64,
    },
    /// The write position holds a value no publisher could have stored.
    /// Sticky: every later read fails the same way.
    Corrupt {
        /// The broadcast.
        name: SegmentName,
        /// Which word.
        what: &'static str,
        /// The value found.
        found: u64,
    },
    /// The next message is longer than the buffer given (byte form); it
    /// stays unread (read it into a buffer of `len` bytes or more).
    BufferTooSmall {
        /// Length of the message in bytes.
        len: usize,
        /// Length of the buffer given.
        buffer: usize,
    },
    /// The buffer given is not the item type's size (run-time-typed
    /// form); nothing was read.
    WrongSize {
        /// The broadcast.
        name: SegmentName,
        /// Length of the buffer in bytes.
        len: usize,
        /// Size of the item type in bytes.
        size: usize,
    },
    /// The publisher took this subscriber's table entry away: it found
    /// the subscriber's read position impossible (see
    /// [`Broadcast::corrupt_subscribers`](crate::Broadcast::corrupt_subscribers)),
    /// or found the process dead. Sticky; subscribe again to go on.
    Evicted {
        /// The broadcast.
        name: SegmentName,
    },
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lagged(n) => write!(f, "the subscriber fell behind: {n} items were overwritten before it read them"),
            Self::Timeout { name, waited } => write!(f, "broadcast {name:?}: nothing came within {waited:?}"),
            Self::Closed { name } => write!(f, "broadcast {name:?}: its publisher closed its end"),
            Self::PeerDead { name, pid } => write!(f, "broadcast {name:?}: its publisher (process {pid}) died"),
            Self::Corrupt { name, what, found } => {
                write!(f, "broadcast {name:?} is corrupt: its {what} is {found}, which no publisher could have stored")
            }
            Self::BufferTooSmall { len, buffer } => {
                write!(f, "the next message has {len} bytes, more than the {buffer}-byte buffer given; it stays unread")
            }
            Self::WrongSize { name, len, size } => {
                write!(f, "broadcast {name:?}: a buffer of {len} bytes cannot take an item of {size} bytes")
            }
            Self::Evicted { name } => {
                write!(f, "broadcast {name:?}: the publisher took this subscriber's entry away")
            }
        }
    }
}

impl std::error::Error for RecvError {}

/// Why a [`Broadcast`](crate::Broadcast) waiting write did not publish.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// The slowest live subscriber did not make room within the time
    /// asked (backpressure policy); nothing was written.
    Timeout {
        /// The broadcast.
        name: SegmentName,
        /// How long the call waited.
        waited: Duration,
    },
    /// The item given is not the item type's size (run-time-typed form);
    /// nothing was written.
    WrongSize {
        /// The broadcast.
        name: SegmentName,
        /// Length of the item given in bytes.
        len: usize,
        /// Size of the item type in bytes.
        size: usize,
    },
    /// The message is longer than a slot (byte form); nothing was
    /// written.
    TooLarge {
        /// The broadcast.
        name: SegmentName,
        /// Length of the message in bytes.
        len: usize,
        /// Slot size in bytes.
        slot: usize,
    },
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout { name, waited } => {
                write!(f, "broadcast {name:?}: no subscriber made room within {waited:?}; nothing was written")
            }
            Self::WrongSize { name, len, size } => {
                write!(
                    f,
                    "broadcast {name:?}: an item of {len} bytes is not of the item type's {size}; nothing was written"
                )
            }
            Self::TooLarge { name, len, slot } => {
                write!(
                    f,
                    "broadcast {name:?}: a message of {len} bytes does not fit a {slot}-byte slot; nothing was written"
                )
            }
        }
    }
}

impl std::error::Error for PublishError {}
