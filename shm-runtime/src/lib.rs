//! Typed state shared between processes through POSIX shared memory.
//!
//! One process creates an object and hands its [`Handle`] (a short line of
//! text) to another process, which loads the same object. Both then read
//! and write the same memory: no copies through the kernel, no
//! serialization, and no torn values.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use shm_runtime::{Handle, SharedObject, SharedString};
//!
//! let message = SharedString::create_sharedobject(64)?;
//! message.write("Hello")?;
//! let text = message.handle().to_string(); // travels to the other process
//!
//! // In the other process:
//! let handle: Handle = text.parse()?;
//! let peer = SharedString::load_sharedobject(&handle)?;
//! assert_eq!(peer.read()?, "Hello");
//! peer.write("From afar")?;
//! assert_eq!(message.read()?, "From afar");
//! # Ok(()) }
//! ```
//!
//! # Objects
//!
//! - [`SharedInt`]: an `i64` with atomic `fetch_add`, `swap`,
//!   `compare_exchange`.
//! - [`SharedBool`]: a flag.
//! - [`SharedString`], [`SharedBytes`]: a value up to a capacity fixed at
//!   creation, kept in two alternating copies so readers never see a mix of
//!   two writes and a killed writer loses nothing already published.
//! - [`Shared<T>`]: a `#[derive(SharedState)]` struct (or any
//!   [`SharedState`] type), read and written whole, or field by field.
//! - [`SharedArray<T>`]: a fixed-length array of such values, each element
//!   read and written whole and independently; [`SharedArrayPart`] hands a
//!   worker process the part it may write.
//! - [`MemoryInterface<T>`]: a ring of `T` between one producer and one
//!   consumer process.
//! - [`ByteRing`]: a ring of byte messages (and, with the `serde`
//!   feature, of any serde value).
//! - [`Broadcast<T>`]: one publisher streaming `T` to many
//!   [`Subscriber`] processes, each at its own pace, under a
//!   [`Policy`] (wait for the slowest, or overwrite and report the lag);
//!   [`ByteBroadcast`] and [`ByteSubscriber`] are its byte-message form.
//!
//! Every object implements [`SharedObject`]: loading
//! (`load_sharedobject`, `load_sharedobject_timeout`,
//! `load_sharedobject_with`), `handle`, `name`, `is_creator`,
//! `share_with_group` and `cleanup`, so generic code takes any object
//! (`&impl SharedObject`, `Box<dyn SharedObject>`). Both rings also
//! implement [`Ring`] (capacity, fill level, the other side's liveness).
//! Bring the traits into scope to call their methods.
//!
//! # Your own structs: `#[derive(SharedState)]`
//!
//! `#[derive(SharedState)]` on a `#[repr(C)]`, `Copy` struct of
//! fixed-width integers (`u8` to `u128`, `i8` to `i128`), `f32`/`f64`,
//! [`Flag`], arrays of these and other derived structs makes it storable
//! in a [`Shared<T>`], [`SharedArray<T>`] or [`MemoryInterface<T>`], and
//! adds `create_sharedobject`, `create_named`, `create_zeroed` and
//! `load_sharedobject` to it (`#[shm(constructors = false)]` leaves them
//! out; `Shared::<T>` has the same functions). `bool`, `char`,
//! `usize`/`isize`, pointers, heap types, `Option`, tuples, enums and
//! hidden padding are compile errors that say what to write instead. The
//! [`SharedState`] trait documents the whole table of accepted and
//! rejected types, with examples.
//!
//! # Lifecycle
//!
//! The creating process owns the name: [`SharedObject::cleanup`] (or dropping
//! the creator's object) removes it. Openers only unmap; a forked child
//! that drops a copy of the creator's object removes nothing. Removing the
//! name does not disturb processes that still have the object open.
//!
//! # Trust
//!
//! Every byte read from a segment is treated as untrusted: opening checks
//! the header (magic, format version, byte order and pointer width, kind,
//! layout fingerprint, sizes, nonce) and every length or index read later
//! is checked before use. The segment format is described in `FORMAT.md`.
//!
//! # Permissions
//!
//! A segment is created with mode `0600` whatever the umask, and opening
//! one refuses a file owned by another user or with a wider mode
//! ([`OpenError::ForeignOwner`], [`OpenError::ModeTooWide`]) unless the
//! opener says otherwise with [`OpenOptions`] and `load_sharedobject_with`.
//! A creator shares its segment with a group through `share_with_group`
//! (mode `0660`); openers in that group then use
//! [`OpenOptions::allow_group_shared`].
//!
//! Linux only (POSIX shared memory in /dev/shm, `fallocate`,
//! `MADV_WIPEONFORK`).

// docs.rs (nightly, `--cfg docsrs`): a badge on items behind a feature;
// none for `loom`, which is the models' build, not a user's.
#![cfg_attr(docsrs, feature(doc_cfg), doc(auto_cfg(hide(loom))))]
#![cfg_attr(loom, allow(dead_code, reason = "a loom build compiles the protocols for their models only"))]

// A loom build (`--cfg loom`) compiles only the atomic protocols and their
// models, and the format they work on: everything that maps memory needs
// `core`'s atomics. Plain `mod` items (never declared inside a macro), so
// that rustfmt sees every file.
pub mod format;
mod protocol;

#[cfg(not(loom))]
mod object;
#[cfg(not(loom))]
mod segment;
#[cfg(not(loom))]
mod sys;
#[cfg(not(loom))]
pub mod tools;

#[cfg(not(loom))]
mod error;

// The fuzz entry points: in the crate's own tests (their proptests) and in
// builds made by cargo-fuzz (which sets `--cfg fuzzing`), never in a normal
// build.
#[cfg(all(not(loom), any(test, fuzzing)))]
#[doc(hidden)]
#[path = "fuzzing.rs"]
pub mod __fuzz;

#[cfg(not(loom))]
pub use error::Error;
#[cfg(not(loom))]
pub use format::ObjectKind;
#[cfg(not(loom))]
pub use object::array::{ArrayError, ArrayIter, ArrayPart, InvalidPart, LoadPartError, SharedArray, SharedArrayPart};
#[cfg(not(loom))]
pub use object::boolean::SharedBool;
#[cfg(not(loom))]
pub use object::broadcast::BroadcastConfig;
#[cfg(not(loom))]
pub use object::broadcast::bytes::{ByteBroadcast, ByteBroadcastIter, ByteSubscriber};
#[cfg(not(loom))]
pub use object::broadcast::error::{PublishError, RecvError};
#[cfg(not(loom))]
pub use object::broadcast::publisher::Broadcast;
#[cfg(not(loom))]
pub use object::broadcast::subscriber::{BroadcastIter, BroadcastTryIter, Subscriber};
#[cfg(not(loom))]
pub use object::bytes::SharedBytes;
#[cfg(not(loom))]
pub use object::dynamic;
#[cfg(not(loom))]
pub use object::int::SharedInt;
#[cfg(not(loom))]
pub use object::ring::byte_ring::ByteRing;
#[cfg(all(feature = "async", not(loom)))]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use object::ring::byte_ring::MessageStream;
#[cfg(not(loom))]
pub use object::ring::end::{Consumer, Producer, Role};
#[cfg(not(loom))]
pub use object::ring::iter::{Iter, Messages, TryIter, TryMessages};
#[cfg(all(feature = "async", not(loom)))]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use object::ring::memory_interface::ItemStream;
#[cfg(not(loom))]
pub use object::ring::memory_interface::{MemoryInterface, SlotMut, SlotRef};
#[cfg(not(loom))]
pub use object::ring::{PeerState, Ring};
#[cfg(not(loom))]
pub use object::shared_object::SharedObject;
#[cfg(not(loom))]
pub use object::state::{__private, Field, Flag, Shared, SharedState};
#[cfg(not(loom))]
pub use object::string::SharedString;
#[cfg(not(loom))]
pub use protocol::broadcast::Policy;
#[cfg(not(loom))]
pub use segment::DEFAULT_OPEN_WAIT;
#[cfg(not(loom))]
pub use segment::error::{
    CleanupError, CreateError, OpenError, OpenOrCreateError, ReadError, RingError, SendError, ShareError,
    TryWriteError, WriteError,
};
#[cfg(not(loom))]
pub use segment::handle::{HANDLE_ENV, Handle, HandleEnvError, InvalidHandle};
#[cfg(not(loom))]
pub use segment::name::{InvalidName, MAX_NAME_LEN, NAME_PREFIX, SegmentName};
#[cfg(not(loom))]
pub use segment::options::OpenOptions;
#[cfg(not(loom))]
pub use shm_derive::SharedState;
