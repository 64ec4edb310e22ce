//! Looking at /dev/shm from outside an object: listing and inspecting
//! segments, removing stale ones ([`clean_stale`]), [`Peek`]
//! (read-only, claims nothing) and [`Value`] (a value decoded by field
//! with the segment's schema). What the `shm` command is built on.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use shm_runtime::{SharedInt, SharedObject};
//! use shm_runtime::tools::{Status, inspect_segment, list_segments};
//!
//! let counter = SharedInt::create_sharedobject(7)?;
//! let info = inspect_segment(counter.name().as_str())?;
//! assert_eq!(info.status, Status::Live);
//! assert!(list_segments()?.iter().any(|s| s.name == counter.name().as_str()));
//! # Ok(()) }
//! ```

pub(crate) mod inspect;
pub(crate) mod peek;
pub(crate) mod value;

pub use inspect::{InspectError, SegmentInfo, Status, clean_stale, find_stale, inspect_segment, list_segments};
pub use peek::{
    ArrayPeek, BroadcastPeek, ByteBroadcastPeek, ByteMessage, ByteRingUnread, MESSAGE_PREVIEW, Peek, PeekError,
    RingItem, RingPeek, RingUnread, RoleHolder, SubscriberPeek,
};
pub use value::{DecodeError, MAX_ARRAY_ITEMS, Value};
