//! The exceptions of the `shm` module, and the conversion of every
//! shm-runtime error into one of them. Each subclasses `shm.Error` and
//! carries the Rust error's `Display` text as its message.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use shm_runtime as rt;

create_exception!(shm, Error, PyException, "Base class of every error shm raises.");
create_exception!(shm, CreateError, Error, "An object could not be created.");
create_exception!(shm, AlreadyExists, CreateError, "A segment of that name exists already.");
create_exception!(shm, OpenError, Error, "An object could not be opened.");
create_exception!(shm, NotFound, OpenError, "No segment has that name (or the creator removed it).");
create_exception!(shm, LayoutMismatch, OpenError, "The segment holds another type or layout than asked for.");
create_exception!(shm, KindMismatch, OpenError, "The segment holds another kind of object than asked for.");
create_exception!(shm, RoleTaken, OpenError, "A live process holds the ring side asked for.");
create_exception!(shm, InvalidHandle, Error, "Handle text that does not parse.");
create_exception!(shm, InvalidName, Error, "A segment name that breaks a naming rule.");
create_exception!(shm, ReadError, Error, "A value could not be read.");
create_exception!(shm, WriteError, Error, "A value could not be written.");
create_exception!(shm, TooLarge, Error, "A value or message longer than the object holds; nothing was written.");
create_exception!(shm, RingError, Error, "A ring operation failed.");
create_exception!(shm, Full, RingError, "The ring has no free slot; nothing was written.");
create_exception!(shm, Timeout, RingError, "Nothing to read, or no room to write, within the time asked.");
create_exception!(shm, Closed, RingError, "The other side let go of the ring and everything it sent was read.");
create_exception!(shm, PeerDead, RingError, "The other side's process died.");
create_exception!(
    shm,
    Lagged,
    RingError,
    "A broadcast subscriber fell behind and items were overwritten before it read them."
);
create_exception!(shm, Corrupt, RingError, "The ring holds values no cooperating peer could have stored.");
create_exception!(shm, WrongSide, Error, "A producer's method called on a consumer, or the reverse.");
create_exception!(shm, ArrayError, Error, "An array element could not be read or written.");
create_exception!(shm, CleanupError, Error, "Removing a segment's name failed.");
create_exception!(shm, CleanedUp, Error, "The object was cleaned up and can no longer be used.");

/// Adds every exception to the module, under its Python name.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("CreateError", py.get_type::<CreateError>())?;
    m.add("AlreadyExists", py.get_type::<AlreadyExists>())?;
    m.add("OpenError", py.get_type::<OpenError>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("LayoutMismatch", py.get_type::<LayoutMismatch>())?;
    m.add("KindMismatch", py.get_type::<KindMismatch>())?;
    m.add("RoleTaken", py.get_type::<RoleTaken>())?;
    m.add("InvalidHandle", py.get_type::<InvalidHandle>())?;
    m.add("InvalidName", py.get_type::<InvalidName>())?;
    m.add("ReadError", py.get_type::<ReadError>())?;
    m.add("WriteError", py.get_type::<WriteError>())?;
    m.add("TooLarge", py.get_type::<TooLarge>())?;
    m.add("RingError", py.get_type::<RingError>())?;
    m.add("Full", py.get_type::<Full>())?;
    m.add("Timeout", py.get_type::<Timeout>())?;
    m.add("Closed", py.get_type::<Closed>())?;
    m.add("PeerDead", py.get_type::<PeerDead>())?;
    m.add("Lagged", py.get_type::<Lagged>())?;
    m.add("Corrupt", py.get_type::<Corrupt>())?;
    m.add("WrongSide", py.get_type::<WrongSide>())?;
    m.add("ArrayError", py.get_type::<ArrayError>())?;
    m.add("CleanupError", py.get_type::<CleanupError>())?;
    m.add("CleanedUp", py.get_type::<CleanedUp>())?;
    Ok(())
}

/// A Rust error turned into the Python exception for it.
pub(crate) trait ToPyErr {
    /// The exception, with the error's text as its message.
    fn to_py(&self) -> PyErr;
}

impl ToPyErr for rt::CreateError {
    fn to_py(&self) -> PyErr {
        let text = self.to_string();
        match self {
            rt::CreateError::AlreadyExists { .. } => AlreadyExists::new_err(text),
            rt::CreateError::InvalidName(_) => InvalidName::new_err(text),
            _ => CreateError::new_err(text),
        }
    }
}

impl ToPyErr for rt::OpenError {
    fn to_py(&self) -> PyErr {
        let text = self.to_string();
        match self {
            rt::OpenError::NotFound { .. } => NotFound::new_err(text),
            rt::OpenError::LayoutMismatch { .. } => LayoutMismatch::new_err(text),
            rt::OpenError::KindMismatch { .. } => KindMismatch::new_err(text),
            rt::OpenError::RoleTaken { .. } => RoleTaken::new_err(text),
            _ => OpenError::new_err(text),
        }
    }
}

impl ToPyErr for rt::InvalidHandle {
    fn to_py(&self) -> PyErr {
        InvalidHandle::new_err(self.to_string())
    }
}

impl ToPyErr for rt::InvalidName {
    fn to_py(&self) -> PyErr {
        InvalidName::new_err(self.to_string())
    }
}

impl ToPyErr for rt::ReadError {
    fn to_py(&self) -> PyErr {
        ReadError::new_err(self.to_string())
    }
}

impl ToPyErr for rt::WriteError {
    fn to_py(&self) -> PyErr {
        let text = self.to_string();
        match self {
            rt::WriteError::TooLarge { .. } => TooLarge::new_err(text),
            _ => WriteError::new_err(text),
        }
    }
}

impl ToPyErr for rt::RingError {
    fn to_py(&self) -> PyErr {
        let text = self.to_string();
        match self {
            rt::RingError::Timeout { .. } => Timeout::new_err(text),
            rt::RingError::PeerDead { .. } => PeerDead::new_err(text),
            rt::RingError::Closed { .. } => Closed::new_err(text),
            rt::RingError::Corrupt { .. } => Corrupt::new_err(text),
            rt::RingError::TooLarge { .. } => TooLarge::new_err(text),
            _ => RingError::new_err(text),
        }
    }
}

impl ToPyErr for rt::SendError {
    fn to_py(&self) -> PyErr {
        let text = self.to_string();
        match self {
            rt::SendError::Full => Full::new_err(text),
            rt::SendError::TooLarge { .. } => TooLarge::new_err(text),
            rt::SendError::Closed => Closed::new_err(text),
            rt::SendError::PeerDead { .. } => PeerDead::new_err(text),
            _ => RingError::new_err(text),
        }
    }
}

impl ToPyErr for rt::ArrayError {
    fn to_py(&self) -> PyErr {
        ArrayError::new_err(self.to_string())
    }
}

impl ToPyErr for rt::CleanupError {
    fn to_py(&self) -> PyErr {
        CleanupError::new_err(self.to_string())
    }
}

/// `result` with its error turned into the Python exception for it.
pub(crate) fn py_result<T, E: ToPyErr>(result: Result<T, E>) -> PyResult<T> {
    result.map_err(|e| e.to_py())
}
