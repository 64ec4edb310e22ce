//! [`Error`]: one error type for application code that uses `?` across
//! every operation of the crate. Each operation keeps its own error type
//! (`CreateError`, `OpenError`, `RingError`, ...) for matching; each of
//! them converts into [`Error`] with `From`, which shows the same message
//! and source.

use crate::object::array::{ArrayError, InvalidPart, LoadPartError};
use crate::object::broadcast::error::{PublishError, RecvError};
use crate::object::dynamic::ItemTypeError;
use crate::segment::error::{
    CleanupError, CreateError, OpenError, OpenOrCreateError, ReadError, RingError, SendError, ShareError,
    TryWriteError, WriteError,
};
use crate::segment::handle::{HandleEnvError, InvalidHandle};
use crate::segment::name::InvalidName;
use crate::tools::encode::EncodeError;
use crate::tools::inspect::InspectError;
use crate::tools::peek::PeekError;
use crate::tools::value::DecodeError;
use std::fmt;

/// Any error of this crate: what `?` turns each operation's error into.
///
/// ```
/// use shm_runtime::{Error, Handle, SharedInt, SharedObject, SharedString};
///
/// fn run() -> Result<String, Error> {
///     let counter = SharedInt::create_sharedobject(0)?; // CreateError
///     let text = SharedString::create_sharedobject(16)?;
///     text.write("hello")?; // WriteError
///     let handle: Handle = text.handle().to_string().parse()?; // InvalidHandle
///     let opened = SharedString::load_sharedobject(&handle)?; // OpenError
///     counter.fetch_add(1);
///     Ok(opened.read()?) // ReadError
/// }
/// assert_eq!(run().unwrap(), "hello");
/// ```
///
/// The message is the operation error's own; [`source`] is that error's
/// source (the system error, where there is one). Match on the variant to
/// get the operation error back.
///
/// [`source`]: std::error::Error::source
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// Creating an object failed.
    Create(CreateError),
    /// Opening an object failed.
    Open(OpenError),
    /// Sharing a segment with a group failed.
    Share(ShareError),
    /// Removing a segment's name failed.
    Cleanup(CleanupError),
    /// Reading a value failed.
    Read(ReadError),
    /// Writing a value failed.
    Write(WriteError),
    /// A ring operation failed.
    Ring(RingError),
    /// A message could not be sent.
    Send(SendError),
    /// A broadcast subscriber's read failed (or reported a lag).
    Recv(RecvError),
    /// A broadcast publisher's waiting write failed.
    Publish(PublishError),
    /// A ring was full ([`TryWriteError::Full`]). The value it hands back
    /// is dropped in the conversion: match on the `TryWriteError` before
    /// `?` to keep it. (A `TryWriteError` whose consumer left becomes
    /// [`Error::Ring`] with [`RingError::Closed`] or
    /// [`RingError::PeerDead`], as from the waiting writes.)
    Full,
    /// An array operation failed.
    Array(ArrayError),
    /// An array part was refused.
    InvalidPart(InvalidPart),
    /// Opening an array part failed.
    LoadPart(LoadPartError),
    /// A handle's text was refused.
    InvalidHandle(InvalidHandle),
    /// The handle in the environment could not be read.
    HandleEnv(HandleEnvError),
    /// A segment name was refused.
    InvalidName(InvalidName),
    /// Inspecting a segment failed.
    Inspect(InspectError),
    /// A read-only look into a segment failed.
    Peek(PeekError),
    /// A run-time item type was refused
    /// ([`ItemType::new`](crate::dynamic::ItemType::new)).
    ItemType(ItemTypeError),
    /// A value could not be encoded with a schema
    /// ([`Value::encode`](crate::tools::Value::encode)).
    Encode(EncodeError),
    /// Bytes could not be decoded with a schema
    /// ([`Value::decode`](crate::tools::Value::decode)).
    Decode(DecodeError),
    /// Listing or cleaning /dev/shm failed.
    Io(std::io::Error),
}

impl Error {
    /// The operation error inside, as a trait object.
    fn inner(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(match self {
            Self::Create(e) => e,
            Self::Open(e) => e,
            Self::Share(e) => e,
            Self::Cleanup(e) => e,
            Self::Read(e) => e,
            Self::Write(e) => e,
            Self::Ring(e) => e,
            Self::Send(e) => e,
            Self::Recv(e) => e,
            Self::Publish(e) => e,
            Self::Full => return None,
            Self::Array(e) => e,
            Self::InvalidPart(e) => e,
            Self::LoadPart(e) => e,
            Self::InvalidHandle(e) => e,
            Self::HandleEnv(e) => e,
            Self::InvalidName(e) => e,
            Self::Inspect(e) => e,
            Self::Peek(e) => e,
            Self::ItemType(e) => e,
            Self::Encode(e) => e,
            Self::Decode(e) => e,
            Self::Io(e) => e,
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner() {
            Some(inner) => fmt::Display::fmt(inner, f),
            None => f.write_str("the ring is full; the value was not written (and was dropped by `?`)"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // Transparent: the operation error's message is this error's, so
        // the chain goes on with what caused it.
        self.inner().and_then(std::error::Error::source)
    }
}

/// `From` for each operation error.
macro_rules! from_operation_errors {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(
            impl From<$ty> for Error {
                fn from(e: $ty) -> Self {
                    Self::$variant(e)
                }
            }
        )*
    };
}

from_operation_errors!(
    Create(CreateError),
    Open(OpenError),
    Share(ShareError),
    Cleanup(CleanupError),
    Read(ReadError),
    Write(WriteError),
    Ring(RingError),
    Send(SendError),
    Recv(RecvError),
    Publish(PublishError),
    Array(ArrayError),
    InvalidPart(InvalidPart),
    LoadPart(LoadPartError),
    InvalidHandle(InvalidHandle),
    HandleEnv(HandleEnvError),
    InvalidName(InvalidName),
    Inspect(InspectError),
    Peek(PeekError),
    ItemType(ItemTypeError),
    Encode(EncodeError),
    Decode(DecodeError),
    Io(std::io::Error),
);

impl From<OpenOrCreateError> for Error {
    fn from(e: OpenOrCreateError) -> Self {
        match e {
            OpenOrCreateError::Create(e) => Self::Create(e),
            OpenOrCreateError::Open(e) => Self::Open(e),
        }
    }
}

impl<T> From<TryWriteError<T>> for Error {
    fn from(e: TryWriteError<T>) -> Self {
        match e {
            TryWriteError::Full(_) => Self::Full,
            TryWriteError::Closed { name, .. } => Self::Ring(RingError::Closed { name, role: "consumer" }),
            TryWriteError::PeerDead { name, pid, .. } => {
                Self::Ring(RingError::PeerDead { name, role: "consumer", pid })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn messages_and_sources_are_the_operation_errors() {
        let name = crate::SegmentName::new("shmrs-error-test").unwrap();
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let open = OpenError::Io { name: name.clone(), op: "open", source: io };
        let text = open.to_string();
        let umbrella = Error::from(open);
        assert_eq!(umbrella.to_string(), text);
        assert!(umbrella.source().is_some_and(|s| s.to_string() == "no such file"), "{umbrella:?}");
        assert!(matches!(umbrella, Error::Open(OpenError::Io { .. })));

        let full = Error::from(TryWriteError::Full(7u32));
        assert!(matches!(full, Error::Full));
        assert!(full.to_string().contains("full"));
        assert!(full.source().is_none());

        let closed = Error::from(TryWriteError::Closed { value: 7u32, name: name.clone() });
        assert!(matches!(closed, Error::Ring(RingError::Closed { role: "consumer", .. })), "{closed:?}");
        assert!(closed.to_string().contains("consumer closed its end"), "{closed}");

        let exists = Error::from(CreateError::AlreadyExists { name, found: None, creator_pid: None });
        assert!(exists.to_string().contains("already exists"), "{exists}");
    }
}
